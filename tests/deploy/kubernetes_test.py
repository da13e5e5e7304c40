"""deploy/kubernetes against what it deploys: the image //deploy:image and its baked-in config.

No cluster here, so this checks the numbers that must agree across files: ports, the user, the
probe paths, the preStop command that must exist in the image, and the termination budget
(preStop drain + max_shutdown_wait_time < terminationGracePeriodSeconds < liveness budget).
"""

import gzip
import io
import json
import os
import re
import tarfile
import unittest

import yaml


def runfile(path):
    return os.path.join(os.environ["TEST_SRCDIR"], os.environ.get("TEST_WORKSPACE", "sluice"), path)


def load_yaml(path):
    with open(runfile(path)) as f:
        return yaml.safe_load(f)


def go_seconds(duration):
    """Seconds in a Go duration such as "15s", "1m30s", "500ms"."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"([0-9.]+)(ms|h|m|s)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError("not a Go duration: %r" % duration)
    return sum(float(n) * units[u] for n, u in parts)


def port_of(address):
    return int(address.rsplit(":", 1)[1])


class Image:
    """The image's config and file list, read from its OCI layout."""

    def __init__(self, layout):
        def blob(digest):
            with open(os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as f:
                return f.read()

        with open(os.path.join(layout, "index.json")) as f:
            manifest = json.loads(blob(json.load(f)["manifests"][0]["digest"]))
        self.config = json.loads(blob(manifest["config"]["digest"]))["config"]
        layer = gzip.decompress(blob(manifest["layers"][0]["digest"]))
        with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
            self.files = {"/" + m.name: m for m in tar.getmembers()}


class KubernetesTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.deployment = load_yaml("deploy/kubernetes/deployment.yaml")
        cls.service = load_yaml("deploy/kubernetes/service.yaml")
        with open(runfile("deploy/sluice.json")) as f:
            cls.gateway = json.load(f)
        cls.image = Image(runfile("deploy/image.oci"))
        cls.pod = cls.deployment["spec"]["template"]["spec"]
        cls.container = cls.pod["containers"][0]
        cls.ports = {p["name"]: p["containerPort"] for p in cls.container["ports"]}

    def test_two_replicas_never_fewer_ready_during_a_rollout(self):
        spec = self.deployment["spec"]
        self.assertEqual(spec["replicas"], 2)
        self.assertEqual(spec["strategy"]["rollingUpdate"]["maxUnavailable"], 0)

    def test_runs_as_the_image_user(self):
        user, group = self.image.config["User"].split(":")
        ctx = self.pod["securityContext"]
        self.assertTrue(ctx["runAsNonRoot"])
        self.assertEqual(ctx["runAsUser"], int(user))
        self.assertEqual(ctx["runAsGroup"], int(group))
        self.assertNotEqual(int(user), 0)

    def test_ports_match_the_baked_in_config(self):
        admin = self.gateway["extra_config"]["sluice/admin"]
        self.assertEqual(self.ports["http"], self.gateway.get("port", 8080))
        self.assertEqual(self.ports["admin"], port_of(admin["address"]))
        self.assertEqual(self.ports["metrics"], port_of(admin["metrics_address"]))
        # Probes come from the kubelet, on the pod IP: the listeners must not be loopback-only.
        self.assertTrue(admin["address"].startswith(":"), admin["address"])
        self.assertNotIn("listen_ip", self.gateway)
        self.assertIn("%d/tcp" % self.ports["http"], self.image.config["ExposedPorts"])

    def test_probes(self):
        readiness = self.container["readinessProbe"]["httpGet"]
        self.assertEqual(readiness["path"], "/__health")
        self.assertEqual(self.ports[readiness["port"]], self.ports["http"])
        liveness = self.container["livenessProbe"]
        self.assertEqual(liveness["grpc"]["port"], self.ports["admin"])
        self.assertNotIn("httpGet", liveness)

    def test_admin_token_comes_from_a_secret(self):
        token_env = self.gateway["extra_config"]["sluice/admin"]["token_env"]
        env = {e["name"]: e for e in self.container["env"]}
        self.assertIn("secretKeyRef", env[token_env]["valueFrom"])

    def test_pre_stop_drains_with_a_tool_in_the_image(self):
        command = self.container["lifecycle"]["preStop"]["exec"]["command"]
        self.assertIn(command[0], self.image.files)
        self.assertTrue(self.image.files[command[0]].mode & 0o111)
        self.assertEqual(command[1], "drain")
        self.assertIn("--wait-idle", command)

    def test_termination_budget(self):
        command = self.container["lifecycle"]["preStop"]["exec"]["command"]
        pre_stop = go_seconds(command[command.index("--timeout") + 1])
        shutdown = go_seconds(self.gateway["max_shutdown_wait_time"])
        self.assertGreater(shutdown, 0, "max_shutdown_wait_time 0 waits forever")
        grace = self.pod["terminationGracePeriodSeconds"]
        self.assertGreater(grace, pre_stop + shutdown)
        liveness = self.container["livenessProbe"]
        # A second guard (liveness "" stays SERVING while draining): a terminating pod must not
        # be restarted.
        self.assertGreater(liveness["periodSeconds"] * liveness["failureThreshold"], grace)

    def test_service_selects_the_deployment_pods(self):
        labels = self.deployment["spec"]["template"]["metadata"]["labels"]
        for key, value in self.service["spec"]["selector"].items():
            self.assertEqual(labels.get(key), value, key)
        self.assertEqual(self.service["spec"]["ports"][0]["targetPort"], "http")


if __name__ == "__main__":
    unittest.main()
