// //deploy:image checked with real tools: skopeo reads it, umoci unpacks it, and the unpacked
// root filesystem runs Sluice (chroot, as the image's non-root user) with the baked-in
// configuration. A second, independent run of the builder must give the same bytes.
//
// Needs root (chroot and setuid), umoci and skopeo (tools/setup installs them). CI runs as root.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "proto/admin/admin.grpc.pb.h"
#include "tests/deploy/process.h"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr char kUmoci[] = "/usr/bin/umoci";
constexpr char kSkopeo[] = "/usr/bin/skopeo";
constexpr char kToken[] = "image-test-token-5c1e";
// umoci and skopeo read a 15 MB archive; a loaded 2-core CI machine needs a few seconds.
constexpr auto kToolLimit = std::chrono::seconds(60);
constexpr auto kStartLimit = std::chrono::seconds(20);

std::string Runfile(const std::string& path) {
  const char* dir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  return std::string(dir ? dir : ".") + "/" + (ws ? ws : "sluice") + "/" + path;
}

std::string TmpDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir ? dir : "/tmp";
}

// skopeo keeps temporary files under $TMPDIR (default /var/tmp): keep them in the test's.
Completed Skopeo(std::vector<std::string> args) {
  Command command;
  command.argv = {kSkopeo};
  command.argv.insert(command.argv.end(), args.begin(), args.end());
  command.env = {"TMPDIR=" + TmpDir()};
  return RunToEnd(command, kToolLimit);
}

std::string Must(const std::optional<std::string>& contents, const std::string& what) {
  EXPECT_TRUE(contents.has_value()) << "cannot read " << what;
  return contents.value_or("");
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The image's tag: index.json's ref name (the git revision).
std::string TagOf(const std::string& layout) {
  json index = json::parse(Must(ReadFile(layout + "/index.json"), "index.json"), nullptr, false);
  if (!index.is_object()) return "";
  return index["manifests"][0]["annotations"].value("org.opencontainers.image.ref.name", "");
}

// A writable copy of the built layout (runfiles are read-only symlinks).
std::string CopyLayout(const std::string& name) {
  const std::string copy = TmpDir() + "/" + name;
  fs::remove_all(copy);
  fs::copy(Runfile("deploy/image.oci"), copy, fs::copy_options::recursive);
  return copy;
}

class ImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test chroots and changes user: run it as root (CI does)";
    for (const char* tool : {kUmoci, kSkopeo}) {
      ASSERT_TRUE(fs::exists(tool)) << tool << " missing: run tools/setup";
    }
    digest_ = Trim(Must(ReadFile(Runfile("deploy/image.digest")), "image.digest"));
    ASSERT_THAT(digest_, ::testing::StartsWith("sha256:"));
    config_ = Must(ReadFile(Runfile("deploy/sluice.json")), "deploy/sluice.json");
    Completed version = RunToEnd({Runfile("gateway/sluice"), "version"});
    std::smatch m;
    ASSERT_TRUE(
        std::regex_search(version.out, m, std::regex(R"(Version (\S+) \(revision (\S+)\))")))
        << version.out << version.err;
    version_ = m[1];
    revision_ = m[2];
  }

  std::string digest_;
  std::string config_;
  std::string version_;
  std::string revision_;
};

TEST_F(ImageTest, SkopeoReadsLayoutAndArchiveAsBuilt) {
  const std::string layout = CopyLayout("inspect.oci");
  const std::string tag = TagOf(layout);
  EXPECT_EQ(tag, revision_);
  for (const std::string& ref :
       {"oci:" + layout + ":" + tag, "oci-archive:" + Runfile("deploy/image.oci.tar")}) {
    Completed inspect = Skopeo({"inspect", ref});
    ASSERT_EQ(inspect.exit_code, 0) << ref << ": " << inspect.err;
    json image = json::parse(inspect.out, nullptr, false);
    ASSERT_TRUE(image.is_object()) << inspect.out;
    EXPECT_EQ(image["Digest"], digest_) << ref;
    EXPECT_EQ(image["Os"], "linux");
    EXPECT_EQ(image["Architecture"], "amd64");
    EXPECT_EQ(image["Layers"].size(), 1u);
    const json& labels = image["Labels"];
    EXPECT_EQ(labels["org.opencontainers.image.revision"], revision_);
    EXPECT_EQ(labels["org.opencontainers.image.version"], version_);
    EXPECT_EQ(labels["io.sluice.config.sha256"], Sha256Hex(config_));
    EXPECT_EQ(labels["io.sluice.config.path"], "/etc/sluice/sluice.json");
  }

  Completed config = Skopeo({"inspect", "--config", "oci:" + layout + ":" + tag});
  ASSERT_EQ(config.exit_code, 0) << config.err;
  json c = json::parse(config.out, nullptr, false)["config"];
  EXPECT_EQ(c["User"], "65532:65532");
  EXPECT_THAT(c["Entrypoint"].get<std::vector<std::string>>(),
              ElementsAre("/usr/bin/sluice", "run", "-c", "/etc/sluice/sluice.json"));
  EXPECT_TRUE(c["Cmd"].is_null()) << c["Cmd"];
  EXPECT_THAT(c["Env"].get<std::vector<std::string>>(),
              Contains("SLUICE_NAME=Production Cluster rev-" + revision_));
}

TEST_F(ImageTest, SecondIndependentBuildHasTheSameDigest) {
  // Same inputs, another process, another directory, another time: every byte must match.
  const std::string out = TmpDir() + "/rebuild";
  fs::remove_all(out);
  fs::create_directories(out + "/image.oci");
  Completed build = RunToEnd(
      {"/usr/bin/python3", Runfile("tools/image/build_image.py"), "--sluice",
       Runfile("tools/image/sluice_static"), "--sluicectl",
       Runfile("tools/sluicectl/sluicectl_static"), "--config", Runfile("deploy/sluice.json"),
       "--ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "--layout", out + "/image.oci",
       "--archive", out + "/image.oci.tar", "--digest", out + "/image.digest", "--stamp-name"},
      kToolLimit);
  ASSERT_EQ(build.exit_code, 0) << build.err;
  EXPECT_EQ(Trim(Must(ReadFile(out + "/image.digest"), "rebuilt digest")), digest_);
  const std::string archive = Must(ReadFile(Runfile("deploy/image.oci.tar")), "image.oci.tar");
  const std::string rebuilt = Must(ReadFile(out + "/image.oci.tar"), "rebuilt image.oci.tar");
  EXPECT_EQ(archive.size(), rebuilt.size());
  EXPECT_EQ(Sha256Hex(archive), Sha256Hex(rebuilt));
  int blobs = 0;
  for (const auto& entry : fs::directory_iterator(Runfile("deploy/image.oci/blobs/sha256"))) {
    const std::string name = entry.path().filename();
    const std::string blob = Must(ReadFile(entry.path()), name);
    EXPECT_EQ(Sha256Hex(blob), name) << "blob content does not match its name";
    EXPECT_EQ(Must(ReadFile(out + "/image.oci/blobs/sha256/" + name), "rebuilt " + name), blob);
    ++blobs;
  }
  EXPECT_EQ(blobs, 3);  // layer, config, manifest
}

// umoci turns the image into a runtime bundle; this is what a container runtime would start.
struct Bundle {
  std::string rootfs;
  json process;
};

Bundle Unpack(const std::string& layout, const std::string& tag) {
  const std::string dir = TmpDir() + "/bundle";
  fs::remove_all(dir);
  Completed unpack = RunToEnd({kUmoci, "unpack", "--image", layout + ":" + tag, dir}, kToolLimit);
  EXPECT_EQ(unpack.exit_code, 0) << unpack.out << unpack.err;
  json spec = json::parse(ReadFile(dir + "/config.json").value_or(""), nullptr, false);
  EXPECT_TRUE(spec.is_object()) << "no runtime spec from umoci";
  return {dir + "/rootfs", spec.is_object() ? spec["process"] : json()};
}

std::vector<std::string> Strings(const json& array) {
  return array.is_array() ? array.get<std::vector<std::string>>() : std::vector<std::string>{};
}

std::string EnvValue(const std::vector<std::string>& env, const std::string& key) {
  for (const auto& e : env) {
    if (e.rfind(key + "=", 0) == 0) return e.substr(key.size() + 1);
  }
  return "";
}

#if !defined(__SANITIZE_ADDRESS__)
// `sluice version` run as `version` says, with mimalloc asked to say when it starts: it must, so
// it serves the process (it comes before glibc's malloc in the load order).
void ExpectMimallocServes(Command version) {
  version.env.push_back("MIMALLOC_VERBOSE=1");
  Completed ran = RunToEnd(version);
  EXPECT_EQ(ran.exit_code, 0) << ran.err;
  EXPECT_THAT(ran.err, HasSubstr("mimalloc: process init")) << ran.err;
}

TEST_F(ImageTest, MimallocServesTheDevelopmentBuildToo) {
  // The sanitizer builds select it out (their allocator finds the bugs); every other build of
  // //gateway:sluice loads it before glibc.
  Command version;
  version.argv = {Runfile("gateway/sluice"), "version"};
  ExpectMimallocServes(version);
}
#endif

TEST_F(ImageTest, UnpackedImageRunsAsItsUserWithTheBakedInConfig) {
  const std::string layout = CopyLayout("run.oci");
  Bundle bundle = Unpack(layout, TagOf(layout));
  ASSERT_TRUE(bundle.process.is_object());
  const std::vector<std::string> args = Strings(bundle.process["args"]);
  ASSERT_THAT(args, ElementsAre("/usr/bin/sluice", "run", "-c", "/etc/sluice/sluice.json"));
  const uid_t uid = bundle.process["user"]["uid"];
  const gid_t gid = bundle.process["user"]["gid"];
  EXPECT_EQ(uid, 65532u);
  EXPECT_EQ(gid, 65532u);
  const std::vector<std::string> image_env = Strings(bundle.process["env"]);
  const std::string baked_name = EnvValue(image_env, "SLUICE_NAME");
  EXPECT_EQ(baked_name, "Production Cluster rev-" + revision_);

  // What the image carries, byte for byte.
  EXPECT_EQ(ReadFile(bundle.rootfs + "/etc/sluice/sluice.json"), config_);
  EXPECT_EQ(ReadFile(bundle.rootfs + "/etc/ssl/certs/ca-certificates.crt"),
            ReadFile("/etc/ssl/certs/ca-certificates.crt"));
  EXPECT_THAT(ReadFile(bundle.rootfs + "/etc/passwd").value_or(""),
              HasSubstr("sluice:x:65532:65532:"));
#if !defined(__SANITIZE_ADDRESS__)
  // mimalloc, not glibc's malloc, serves the image's gateway (docs/performance.md): it must be
  // in the image and come first in the load order.
  Command version;
  version.argv = {"/usr/bin/sluice", "version"};
  version.clear_env = true;
  version.root = bundle.rootfs;
  ExpectMimallocServes(version);
#endif

  // Start the entrypoint as a container runtime would: the image's root, user, cwd and
  // environment. The only additions are what an operator passes: the admin token, loopback
  // ephemeral ports for this shared test machine (-p 0 as `args`, listeners via environment).
  Command entrypoint;
  entrypoint.argv = args;
  entrypoint.argv.insert(entrypoint.argv.end(), {"-p", "0"});
  entrypoint.env = image_env;
  entrypoint.env.insert(entrypoint.env.end(),
                        {std::string("SLUICE_ADMIN_TOKEN=") + kToken,
                         "SLUICE_ADMIN_ADDRESS=127.0.0.1:0", "SLUICE_METRICS_ADDRESS=127.0.0.1:0"});
  entrypoint.clear_env = true;
  entrypoint.root = bundle.rootfs;
  entrypoint.cwd = bundle.process.value("cwd", "/");
  entrypoint.uid = uid;
  entrypoint.gid = gid;
  Process sluice(entrypoint);
  ASSERT_TRUE(sluice.started());
  auto line = sluice.WaitFor(
      std::regex(R"( listening on [^ ]*:(\d+) .* admin listening on ([^ ,]+), metrics on)"),
      kStartLimit);
  ASSERT_TRUE(line.has_value()) << "no startup line:\n" << sluice.output();
  const uint16_t port = static_cast<uint16_t>(std::stoi((*line)[1]));
  const std::string admin_address = (*line)[2];

  // It runs as the image's user, not as root.
  std::string status = ReadFile("/proc/" + std::to_string(sluice.pid()) + "/status").value_or("");
  EXPECT_TRUE(std::regex_search(status, std::regex(R"(\nUid:\t65532\t65532\t)"))) << status;

  Response health = Fetch(port, "GET", "/__health");
  EXPECT_EQ(health.result_int(), 200u);
  EXPECT_EQ(json::parse(health.body(), nullptr, false).value("status", ""), "ok");

  auto channel = grpc::CreateChannel(admin_address, grpc::InsecureChannelCredentials());
  auto stub = admin::Admin::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  admin::StatusResponse s;
  ASSERT_TRUE(stub->Status(&ctx, {}, &s).ok());
  EXPECT_EQ(s.name(), baked_name);
  EXPECT_EQ(s.config_path(), "/etc/sluice/sluice.json");
  EXPECT_EQ(s.config_sha256(), Sha256Hex(config_));
  EXPECT_EQ(s.git_revision(), revision_);
  EXPECT_EQ(s.pid(), sluice.pid());

  // The Kubernetes preStop hook: the image's own sluicectl, as the image's user, drains it.
  Command pre_stop = entrypoint;
  pre_stop.argv = {"/usr/bin/sluicectl", "drain", "--wait-idle", "200ms", "--timeout", "10s"};
  pre_stop.env = image_env;
  pre_stop.env.insert(pre_stop.env.end(), {std::string("SLUICE_ADMIN_TOKEN=") + kToken,
                                           "SLUICE_ADMIN_ADDRESS=" + admin_address});
  Completed drained = RunToEnd(pre_stop, std::chrono::seconds(30));
  EXPECT_EQ(drained.exit_code, 0) << drained.out << drained.err;
  EXPECT_THAT(drained.out, HasSubstr("DRAINING"));
  EXPECT_EQ(Fetch(port, "GET", "/__health").result_int(), 503u);

  sluice.Signal(SIGTERM);
  EXPECT_EQ(sluice.Wait(std::chrono::seconds(20)), 0) << sluice.output();
  EXPECT_THAT(sluice.output(), HasSubstr("sluice stopped"));
}

}  // namespace
}  // namespace sluice::testing
