// Configuration reloads through the real binary: SIGHUP, admin.Admin/Reload and the file watch
// (with the symlink swap kubelet does for a mounted ConfigMap) make a new file live without a
// restart; a broken file, a changed port and an unreachable gRPC reflection backend each leave the
// old configuration serving, reported by Reload, Status and Prometheus; under steady load every
// answer is whole (one configuration's, never a mix) and no request fails; a thousand reloads
// leave memory and file descriptors where they were.

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_replace.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/admin/admin.grpc.pb.h"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

namespace pb = ::admin;

// Two configurations that differ in routes, backends and shaping. {{A}} and {{B}} are the two
// backends' URLs.
constexpr char kBlue[] = R"({"version": 3, "name": "blue", "endpoints": [
  {"endpoint": "/a", "backend": [
    {"host": ["{{A}}"], "url_pattern": "/one", "allow": ["v"], "group": "first"},
    {"host": ["{{B}}"], "url_pattern": "/two", "allow": ["v"], "group": "second"}]},
  {"endpoint": "/only-blue", "backend": [{"host": ["{{A}}"], "url_pattern": "/one"}]}]})";

constexpr char kGreen[] = R"({"version": 3, "name": "green", "endpoints": [
  {"endpoint": "/a", "backend": [
    {"host": ["{{B}}"], "url_pattern": "/two", "mapping": {"v": "w"}, "group": "x"},
    {"host": ["{{A}}"], "url_pattern": "/one", "deny": ["other"]}]},
  {"endpoint": "/only-green", "backend": [{"host": ["{{B}}"], "url_pattern": "/two"}]}]})";

std::string Fill(const std::string& text, const TestBackend& a, const TestBackend& b) {
  return absl::StrReplaceAll(text, {{"{{A}}", a.url()}, {"{{B}}", b.url()}});
}

// Replaces the file's content the way an editor or a deploy tool does: a new file renamed over.
void Replace(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << content;
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

class Admin {
 public:
  explicit Admin(const std::string& address)
      : stub_(
            pb::Admin::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {}

  pb::ReloadResponse Reload() { return Call(&pb::Admin::Stub::Reload, 60); }
  pb::StatusResponse Status() { return Call(&pb::Admin::Stub::Status, 10); }

 private:
  // One unary call with an empty request, failing the test if it fails.
  template <class Response, class Request>
  Response Call(grpc::Status (pb::Admin::Stub::*method)(grpc::ClientContext*, const Request&,
                                                        Response*),
                int seconds) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
    Response r;
    grpc::Status st = (stub_.get()->*method)(&ctx, Request(), &r);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return r;
  }

  std::unique_ptr<pb::Admin::Stub> stub_;
};

struct Backends {
  TestBackend a{[](const Request&) { return TestBackend::Json(R"({"v": "a", "other": 1})"); }};
  TestBackend b{[](const Request&) { return TestBackend::Json(R"({"v": "b", "other": 2})"); }};
};

TEST(ReloadTest, SighupMakesTheNewFileLive) {
  Backends be;
  SluiceProcess gw(Fill(kBlue, be.a, be.b));
  const std::string blue = Fetch(gw.port(), "GET", "/a").body();
  EXPECT_EQ(blue, R"({"first":{"v":"a"},"second":{"v":"b"}})");
  EXPECT_EQ(Fetch(gw.port(), "GET", "/only-blue").result_int(), 200u);

  const std::string green_text = Fill(kGreen, be.a, be.b);
  Replace(gw.config_path(), green_text);
  kill(gw.pid(), SIGHUP);
  EXPECT_TRUE(gw.LogHas("reload (SIGHUP): config \"green\" sha256 " + Sha256Hex(green_text) +
                        " live (2 endpoints)"))
      << gw.log();
  EXPECT_EQ(Fetch(gw.port(), "GET", "/a").body(), R"({"v":"a","x":{"other":2,"w":"b"}})");
  EXPECT_EQ(Fetch(gw.port(), "GET", "/only-blue").result_int(), 404u);
  EXPECT_EQ(Fetch(gw.port(), "GET", "/only-green").result_int(), 200u);

  Admin admin(gw.admin_address());
  pb::StatusResponse s = admin.Status();
  EXPECT_EQ(s.name(), "green");
  EXPECT_EQ(s.config_sha256(), Sha256Hex(green_text));
  EXPECT_EQ(s.reloads_ok(), 1u);
  ASSERT_EQ(s.recent_reloads_size(), 1);
  EXPECT_EQ(s.recent_reloads(0).trigger(), "SIGHUP");
  EXPECT_EQ(s.recent_reloads(0).result(), "ok");
  const std::string page = MetricsPage(gw);
  EXPECT_EQ(Sample(page, "sluice_config_reloads_total", {"result=\"ok\""}), 1) << page;
  EXPECT_NE(page.find("config_sha256=\"" + Sha256Hex(green_text) + "\""), std::string::npos);
  EXPECT_NE(page.find("name=\"green\""), std::string::npos);
  // The endpoint both files have keeps its counters; the one gone is no longer listed.
  EXPECT_EQ(Sample(page, "sluice_http_requests_total", {"route=\"/a\",code_class=\"2xx\""}), 2)
      << page;
  EXPECT_EQ(page.find("/only-blue"), std::string::npos);
  EXPECT_EQ(gw.StopWith(SIGTERM), 0) << gw.log();
}

// With the file watch on, a file already made live by SIGHUP is not reloaded a second time when
// the watch next looks at it: one edit, one reload.
TEST(ReloadTest, AFileReloadedBySighupIsNotReloadedAgainByTheWatch) {
  Backends be;
  auto with_watch = [](std::string text) {
    return absl::StrReplaceAll(text, {{R"("name": ")", R"("extra_config": {"sluice/reload":
        {"watch": true, "interval": "2s"}}, "name": ")"}});
  };
  SluiceProcess gw(with_watch(Fill(kBlue, be.a, be.b)));
  // The watch first looks 2 s after the start: the edit and the signal come well before.
  const std::string green_text = with_watch(Fill(kGreen, be.a, be.b));
  Replace(gw.config_path(), green_text);
  kill(gw.pid(), SIGHUP);
  ASSERT_TRUE(gw.LogHas("reload (SIGHUP)")) << gw.log();
  // Two looks of the watch later.
  std::this_thread::sleep_for(std::chrono::milliseconds(4500));
  pb::StatusResponse s = Admin(gw.admin_address()).Status();
  EXPECT_EQ(s.config_sha256(), Sha256Hex(green_text));
  EXPECT_EQ(s.reloads_ok(), 1u) << gw.log();
  ASSERT_EQ(s.recent_reloads_size(), 1) << gw.log();
  EXPECT_EQ(s.recent_reloads(0).trigger(), "SIGHUP");
  EXPECT_EQ(gw.log().find("reload (watch)"), std::string::npos) << gw.log();
}

TEST(ReloadTest, BadFilesLeaveTheOldConfigServingAndAreReported) {
  Backends be;
  const std::string blue_text = Fill(kBlue, be.a, be.b);
  SluiceProcess gw(blue_text);
  Admin admin(gw.admin_address());
  const std::string blue = Fetch(gw.port(), "GET", "/a").body();

  struct Row {
    std::string name;
    std::string content;
    std::string error;  // a fragment of the reported error
  };
  const ClosedPort down;
  const uint16_t closed = down.port();
  const std::vector<Row> rows = {
      {"not JSON", "{\"version\": 3, \"endpoints\": [", gw.config_path()},
      {"bad key", R"({"version": 3, "endpoints": [{"endpoint": "/a", "timeout": "soon",
         "backend": [{"host": ["http://127.0.0.1:1"], "url_pattern": "/"}]}]})",
       "endpoints[0].timeout"},
      {"listener setting",
       absl::StrReplaceAll(blue_text,
                           {{R"("name": "blue",)", R"("name": "blue", "use_h2c": true,)"}}),
       "use_h2c (false -> true) changed: the listeners, admin plane and connection pools are set "
       "up at start, so this needs a restart"},
      {"unreachable reflection",
       R"({"version": 3, "endpoints": [{"endpoint": "/p/{id}", "backend": [{"host": ["127.0.0.1:)" +
           std::to_string(closed) + R"("], "url_pattern": "/shop.Shop/GetProduct",
         "extra_config": {"backend/grpc": {"descriptor_source": "reflection"}}}]}]})",
       "server reflection of 127.0.0.1:" + std::to_string(closed)},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    Replace(gw.config_path(), row.content);
    pb::ReloadResponse r = admin.Reload();
    EXPECT_EQ(r.reload().result(), "failed");
    EXPECT_NE(r.reload().error().find(row.error), std::string::npos) << r.reload().error();
    EXPECT_EQ(r.live_config_sha256(), Sha256Hex(blue_text));
    EXPECT_EQ(Fetch(gw.port(), "GET", "/a").body(), blue) << "the old config serves";
  }
  pb::StatusResponse s = admin.Status();
  EXPECT_EQ(s.config_sha256(), Sha256Hex(blue_text));
  EXPECT_EQ(s.reloads_failed(), rows.size());
  ASSERT_EQ(s.recent_reloads_size(), static_cast<int>(rows.size()));
  EXPECT_EQ(s.recent_reloads(0).trigger(), "admin");
  const std::string page = MetricsPage(gw);
  EXPECT_EQ(Sample(page, "sluice_config_reloads_total", {"result=\"failed\""}),
            static_cast<double>(rows.size()));
  EXPECT_EQ(Sample(page, "sluice_config_last_reload_successful"), 0);
  // The same file again: nothing to do, said so.
  Replace(gw.config_path(), blue_text);
  EXPECT_EQ(admin.Reload().reload().result(), "unchanged");
}

TEST(ReloadTest, ChangedPortNeedsARestart) {
  Backends be;
  const uint16_t port = FreePort();
  const std::string with_port = absl::StrReplaceAll(
      Fill(kBlue, be.a, be.b),
      {{R"("name": "blue",)", R"("name": "blue", "port": )" + std::to_string(port) + ","}});
  SluiceProcess gw(with_port, {}, {}, /*ephemeral_port=*/false);
  ASSERT_EQ(gw.port(), port);
  const uint16_t other = FreePort();
  Replace(gw.config_path(),
          absl::StrReplaceAll(with_port, {{std::to_string(port), std::to_string(other)}}));
  pb::ReloadResponse r = Admin(gw.admin_address()).Reload();
  EXPECT_EQ(r.reload().result(), "failed");
  EXPECT_NE(r.reload().error().find("port (" + std::to_string(port) + " -> " +
                                    std::to_string(other) + ")"),
            std::string::npos)
      << r.reload().error();
  EXPECT_EQ(Fetch(port, "GET", "/only-blue").result_int(), 200u);
}

// What an operator types: `sluicectl reload --wait` exits 0 once the new file serves, 1 (saying
// why, and which sha256 still serves) when it is refused.
TEST(ReloadTest, SluicectlReloadWaitsAndFailsLoudly) {
  Backends be;
  const std::string blue_text = Fill(kBlue, be.a, be.b);
  SluiceProcess gw(blue_text);
  const std::string ctl = Runfile("tools/sluicectl/sluicectl");
  const std::string green_text = Fill(kGreen, be.a, be.b);
  Replace(gw.config_path(), green_text);
  CommandResult ok = RunCommand({ctl, "--admin", gw.admin_address(), "reload", "--wait"});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("\"result\": \"ok\""), std::string::npos) << ok.out;
  EXPECT_EQ(Fetch(gw.port(), "GET", "/only-green").result_int(), 200u);

  Replace(gw.config_path(), "{\"version\": 3, \"endpoints\": [{\"endpoint\": 7}]}");
  CommandResult refused = RunCommand({ctl, "--admin", gw.admin_address(), "reload"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("reload failed, " + Sha256Hex(green_text) +
                             " still serving: " + gw.config_path() + ": endpoints[0].endpoint"),
            std::string::npos)
      << refused.err;
}

// kubelet's update of a mounted ConfigMap: the file is a symlink into `..data`, itself a symlink
// to a timestamped directory; an update writes a new directory and renames a new `..data` over
// the old one.
TEST(ReloadTest, FileWatchSeesAConfigMapSymlinkSwap) {
  Backends be;
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/configmap";
  ASSERT_EQ(system(("rm -rf " + dir + " && mkdir -p " + dir + "/..2026_12_04_1").c_str()), 0);
  auto with_watch = [](std::string text) {
    return absl::StrReplaceAll(text, {{R"("name": ")", R"("extra_config": {"sluice/reload":
        {"watch": true, "interval": "100ms"}}, "name": ")"}});
  };
  std::ofstream(dir + "/..2026_12_04_1/krakend.json") << with_watch(Fill(kBlue, be.a, be.b));
  ASSERT_EQ(symlink("..2026_12_04_1", (dir + "/..data").c_str()), 0);
  ASSERT_EQ(symlink("..data/krakend.json", (dir + "/krakend.json").c_str()), 0);
  SluiceProcess gw("{}", {"-c", dir + "/krakend.json"});
  EXPECT_EQ(Fetch(gw.port(), "GET", "/only-blue").result_int(), 200u) << gw.log();

  const std::string green_text = with_watch(Fill(kGreen, be.a, be.b));
  ASSERT_EQ(mkdir((dir + "/..2026_12_04_2").c_str(), 0755), 0);
  std::ofstream(dir + "/..2026_12_04_2/krakend.json") << green_text;
  ASSERT_EQ(symlink("..2026_12_04_2", (dir + "/..data_tmp").c_str()), 0);
  ASSERT_EQ(std::rename((dir + "/..data_tmp").c_str(), (dir + "/..data").c_str()), 0);
  ASSERT_EQ(system(("rm -rf " + dir + "/..2026_12_04_1").c_str()), 0);
  EXPECT_TRUE(gw.LogHas("reload (watch)")) << gw.log();
  EXPECT_EQ(Admin(gw.admin_address()).Status().config_sha256(), Sha256Hex(green_text)) << gw.log();
  EXPECT_EQ(Fetch(gw.port(), "GET", "/only-green").result_int(), 200u);
  EXPECT_EQ(Fetch(gw.port(), "GET", "/only-blue").result_int(), 404u);
}

// Clients on keep-alive connections while the configuration flips: every answer is exactly one
// configuration's (the stacks a request started on finish it), and none fails.
TEST(ReloadTest, UnderLoadEveryAnswerIsOneConfigsWhole) {
  Backends be;
  const std::string blue_text = Fill(kBlue, be.a, be.b);
  const std::string green_text = Fill(kGreen, be.a, be.b);
  SluiceProcess gw(blue_text);
  Admin admin(gw.admin_address());
  const std::string blue = Fetch(gw.port(), "GET", "/a").body();
  Replace(gw.config_path(), green_text);
  ASSERT_EQ(admin.Reload().reload().result(), "ok");
  const std::string green = Fetch(gw.port(), "GET", "/a").body();
  ASSERT_NE(blue, green);

  std::atomic<bool> stop{false};
  std::atomic<int> blues{0}, greens{0}, wrong{0};
  std::vector<std::thread> clients;
  std::vector<std::string> failures(4);
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      HttpClient client(gw.port());
      while (!stop.load()) {
        Response r = client.Get("/a");
        if (r.result_int() == 200 && r.body() == blue) {
          ++blues;
        } else if (r.result_int() == 200 && r.body() == green) {
          ++greens;
        } else {
          ++wrong;
          failures[c] = std::to_string(r.result_int()) + " " + r.body() + " " + client.error();
        }
      }
    });
  }
  constexpr int kReloads = 40;
  for (int i = 0; i < kReloads; ++i) {
    Replace(gw.config_path(), i % 2 == 0 ? blue_text : green_text);
    EXPECT_EQ(admin.Reload().reload().result(), "ok");
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(wrong.load(), 0) << failures[0] << failures[1] << failures[2] << failures[3];
  EXPECT_GT(blues.load(), kReloads);
  EXPECT_GT(greens.load(), kReloads);
  EXPECT_EQ(admin.Status().reloads_ok(), kReloads + 1u);
  EXPECT_EQ(gw.StopWith(SIGTERM), 0) << gw.log();
}

TEST(ReloadTest, AThousandReloadsLeaveMemoryAndDescriptorsFlat) {
  Backends be;
  const std::string texts[2] = {Fill(kBlue, be.a, be.b), Fill(kGreen, be.a, be.b)};
  SluiceProcess gw(texts[0]);
  Admin admin(gw.admin_address());
  long rss_start = 0;
  int fds_start = 0;
  constexpr int kReloads = 1000;
  constexpr int kWarm = 20;  // both configurations built a few times: allocator pools warm
  for (int i = 1; i <= kReloads; ++i) {
    Replace(gw.config_path(), texts[i % 2]);
    ASSERT_EQ(admin.Reload().reload().result(), "ok") << i;
    if (i % 10 == 0) {
      ASSERT_EQ(Fetch(gw.port(), "GET", "/a").result_int(), 200u);
    }
    if (i == kWarm) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // releases reaped
      rss_start = RssKiB(gw.pid());
      fds_start = OpenFds(gw.pid());
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const long rss_end = RssKiB(gw.pid());
  const int fds_end = OpenFds(gw.pid());
  std::cerr << "1000 reloads: RSS " << rss_start << " -> " << rss_end << " KiB, fds " << fds_start
            << " -> " << fds_end << "\n";
  EXPECT_LE(fds_end, fds_start + 2);
#ifndef __SANITIZE_ADDRESS__
  // (ASan holds freed memory in its quarantine: RSS says nothing there; leaks are what it checks,
  // at exit below.)
  EXPECT_LE(rss_end, rss_start * 11 / 10);
#endif
  EXPECT_EQ(admin.Status().reloads_ok(), static_cast<uint64_t>(kReloads));
  EXPECT_EQ(gw.StopWith(SIGTERM), 0) << gw.log();
}

}  // namespace
}  // namespace sluice::testing
