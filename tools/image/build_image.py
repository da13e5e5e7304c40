#!/usr/bin/python3
"""Builds Sluice's OCI image: a layout directory and the same layout as a tar (an "OCI archive").

No container engine is involved. Every byte is a function of the inputs: file contents, never
their timestamps, owners or the order the file system lists them in. Tar entries are sorted,
owned by 0:0 (the home directory by the image user), dated 1970-01-01; gzip carries no name or
time; JSON is written with sorted keys. Building twice from the same inputs gives the same digest.

Inputs are the two binaries, the gateway configuration and the host's CA bundle; the shared
libraries the binaries still need (glibc, from `ldd`) are copied from the host. The git revision
and version come from the binary itself (`sluice version`), so the labels always say what the
binary will report through admin.Admin/Status.

Usage: build_image.py --sluice BIN --sluicectl BIN --config FILE --ca-bundle FILE
                      --layout DIR --archive FILE --digest FILE [--stamp-name] [--source URL]
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile

# A non-root user that owns nothing but its home: the gateway never needs to write elsewhere.
# 65532 is the "nonroot" id distroless images use; Kubernetes' runAsNonRoot needs a number.
USER_ID = 65532
USER_NAME = "sluice"

CONFIG_PATH = "/etc/sluice/sluice.json"
SLUICE_PATH = "/usr/bin/sluice"
SLUICECTL_PATH = "/usr/bin/sluicectl"
CA_PATH = "/etc/ssl/certs/ca-certificates.crt"

# Deterministic gzip: level fixed, no file name, mtime 0.
GZIP_LEVEL = 9


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Layer:
    """An image filesystem as sorted tar entries. Paths are absolute, without trailing slash."""

    def __init__(self):
        self.entries = {}

    def _parents(self, path):
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = "/" + "/".join(parts[:i])
            if parent not in self.entries:
                self.dir(parent)

    def dir(self, path, mode=0o755, uid=0):
        self._parents(path)
        self.entries[path] = ("dir", mode, uid, None)

    def file(self, path, data, mode=0o644):
        self._parents(path)
        self.entries[path] = ("file", mode, 0, data)

    def symlink(self, path, target):
        self._parents(path)
        self.entries[path] = ("symlink", 0o777, 0, target)

    def tar(self):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for path in sorted(self.entries):
                kind, mode, uid, payload = self.entries[path]
                info = tarfile.TarInfo(path.lstrip("/"))
                info.mode = mode
                info.uid = info.gid = uid
                info.uname = info.gname = ""
                info.mtime = 0
                if kind == "dir":
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                elif kind == "symlink":
                    info.type = tarfile.SYMTYPE
                    info.linkname = payload
                    tar.addfile(info)
                else:
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
        return out.getvalue()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def shared_libraries(binary):
    """(path in image, host path) of each shared object `binary` loads, from ldd."""
    res = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if res.returncode != 0:
        if "not a dynamic executable" in res.stdout + res.stderr:
            return []
        sys.exit("ldd %s failed: %s" % (binary, res.stderr))
    libs = []
    for line in res.stdout.splitlines():
        line = line.strip()
        m = re.match(r"^(\S+) => (/\S+) \(0x[0-9a-f]+\)$", line) or re.match(
            r"^(/\S+) \(0x[0-9a-f]+\)$", line)
        if m:
            libs.append(m.group(m.lastindex))
        elif line.startswith("linux-vdso") or not line:
            continue
        else:
            sys.exit("ldd %s: cannot use line %r" % (binary, line))
    return libs


def add_library(layer, path):
    """Copies a host library to the same path; a symlinked path (the loader) stays a symlink."""
    real = os.path.realpath(path)
    if real != path and os.path.islink(path):
        layer.file(real, read(real), 0o755)
        layer.symlink(path, real)
    else:
        layer.file(path, read(real), 0o755)


def binary_version(sluice):
    out = subprocess.run([sluice, "version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"Version (\S+) \(revision (\S+)\)", out)
    if not m:
        sys.exit("unexpected `sluice version` output: %r" % out)
    return m.group(1), m.group(2)


def check_config(sluice, config):
    res = subprocess.run([sluice, "check", "-c", config], capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit("the image's configuration does not pass `sluice check`:\n" + res.stderr)


def build_layer(args):
    layer = Layer()
    layer.file("/etc/passwd", (
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        "%s:x:%d:%d:Sluice gateway:/home/%s:/usr/sbin/nologin\n" %
        (USER_NAME, USER_ID, USER_ID, USER_NAME)).encode())
    layer.file("/etc/group", ("root:x:0:\n%s:x:%d:\n" % (USER_NAME, USER_ID)).encode())
    # glibc's resolver reads this; files first so /etc/hosts (written by Kubernetes) wins.
    layer.file("/etc/nsswitch.conf", b"passwd: files\ngroup: files\nhosts: files dns\n")
    layer.file(CA_PATH, read(args.ca_bundle))
    # OpenSSL (linked into the binaries) looks under its build-time OPENSSLDIR, /usr/lib/ssl.
    layer.symlink("/usr/lib/ssl/cert.pem", CA_PATH)
    layer.symlink("/usr/lib/ssl/certs", "/etc/ssl/certs")
    layer.file(CONFIG_PATH, read(args.config))
    layer.file(SLUICE_PATH, read(args.sluice), 0o755)
    layer.file(SLUICECTL_PATH, read(args.sluicectl), 0o755)
    for binary in (args.sluice, args.sluicectl):
        for lib in shared_libraries(binary):
            add_library(layer, lib)
    layer.dir("/tmp", 0o1777)
    layer.dir("/home/" + USER_NAME, 0o755, USER_ID)
    return layer.tar()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sluice", required=True)
    p.add_argument("--sluicectl", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--ca-bundle", required=True)
    p.add_argument("--layout", required=True, help="output: OCI image layout directory")
    p.add_argument("--archive", required=True, help="output: the layout as a tar")
    p.add_argument("--digest", required=True, help="output: the manifest digest")
    p.add_argument("--stamp-name", action="store_true",
                   help="set SLUICE_NAME to the config's name plus ' rev-<revision>'")
    p.add_argument("--source", default="", help="org.opencontainers.image.source label")
    p.add_argument("--host-files-stamp", default="",
                   help="ignored: only makes Bazel run the build again (see image.bzl)")
    args = p.parse_args()

    check_config(args.sluice, args.config)
    version, revision = binary_version(args.sluice)
    config_bytes = read(args.config)
    config_json = json.loads(config_bytes)
    port = config_json.get("port", 8080)

    layer_tar = build_layer(args)
    layer_gz = gzip.compress(layer_tar, compresslevel=GZIP_LEVEL, mtime=0)

    labels = {
        "org.opencontainers.image.title": "sluice",
        "org.opencontainers.image.description": "Sluice API gateway with its configuration",
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.revision": revision,
        "io.sluice.config.path": CONFIG_PATH,
        "io.sluice.config.sha256": sha256(config_bytes),
        "io.sluice.config.name": config_json.get("name", ""),
    }
    if args.source:
        labels["org.opencontainers.image.source"] = args.source
    env = ["PATH=/usr/bin:/bin", "SSL_CERT_FILE=" + CA_PATH]
    if args.stamp_name:
        env.append("SLUICE_NAME=%s rev-%s" % (config_json.get("name", "sluice"), revision))
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "User": "%d:%d" % (USER_ID, USER_ID),
            "Env": env,
            "Entrypoint": [SLUICE_PATH, "run", "-c", CONFIG_PATH],
            "WorkingDir": "/home/" + USER_NAME,
            "ExposedPorts": {"%d/tcp" % port: {}},
            "StopSignal": "SIGTERM",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha256(layer_tar)]},
        "history": [{
            "created": "1970-01-01T00:00:00Z",
            "created_by": "tools/image/build_image.py",
        }],
    }
    config_blob = canonical_json(image_config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + sha256(config_blob),
            "size": len(config_blob),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": "sha256:" + sha256(layer_gz),
            "size": len(layer_gz),
        }],
        "annotations": labels,
    }
    manifest_blob = canonical_json(manifest)
    manifest_digest = "sha256:" + sha256(manifest_blob)
    index = {
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": len(manifest_blob),
            "annotations": {"org.opencontainers.image.ref.name": revision},
        }],
    }

    files = {
        "oci-layout": canonical_json({"imageLayoutVersion": "1.0.0"}),
        "index.json": canonical_json(index),
    }
    for blob in (layer_gz, config_blob, manifest_blob):
        files["blobs/sha256/" + sha256(blob)] = blob

    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, 0
            tar.addfile(info, io.BytesIO(files[name]))
    with open(args.archive, "wb") as f:
        f.write(archive.getvalue())

    os.makedirs(os.path.join(args.layout, "blobs", "sha256"), exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(args.layout, name), "wb") as f:
            f.write(data)
    with open(args.digest, "w") as f:
        f.write(manifest_digest + "\n")


if __name__ == "__main__":
    main()
