// End-to-end test of the README demo: the real demo_backend binary and the real sluice binary
// running examples/demo.json (its backend host pointed at the backend's ephemeral port), asserting
// the exact bytes each demo endpoint returns. If the demo config, the backend's data or the
// gateway's shaping changes, the curl lines tools/demo prints change too, and this test says so.

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// The backend address examples/demo.json names; tools/demo starts demo_backend there.
constexpr char kDemoBackendHost[] = "127.0.0.1:9000";
// The gRPC backend's address in examples/demo.json; tools/demo starts demo_grpc there.
constexpr char kDemoGrpcHost[] = "127.0.0.1:9001";

std::string DemoConfigPath() { return Runfile("examples/demo.json"); }

std::string Header(const Response& r, const std::string& name) {
  auto it = r.find(name);
  return it == r.end() ? "<absent>" : std::string(it->value());
}

// examples/demo.json with its backend hosts pointed at the test's ports, as tools/demo's sed
// does for other ports.
std::string DemoConfig(uint16_t backend_port, uint16_t grpc_port) {
  std::ifstream in(DemoConfigPath());
  std::stringstream text_stream;
  text_stream << in.rdbuf();
  std::string text = text_stream.str();
  for (const auto& [host, port] : {std::pair<std::string, uint16_t>{kDemoBackendHost, backend_port},
                                   {kDemoGrpcHost, grpc_port}}) {
    const std::string to = "127.0.0.1:" + std::to_string(port);
    size_t at = text.find(host);
    EXPECT_NE(at, std::string::npos) << "examples/demo.json no longer names " << host;
    for (; at != std::string::npos; at = text.find(host, at + to.size())) {
      text.replace(at, host.size(), to);
    }
  }
  return text;
}

// The real demo backends on 127.0.0.1:<ephemeral>, their ports read from their stdout.
class DemoBackendProcess : public ServerProcess {
 public:
  DemoBackendProcess()
      : ServerProcess("tools/demo_backend/demo_backend", {"--port", "0"},
                      R"(demo_backend listening on 127\.0\.0\.1:(\d+)\n)") {}
};
class DemoGrpcProcess : public ServerProcess {
 public:
  DemoGrpcProcess()
      : ServerProcess("tools/demo_grpc/demo_grpc", {"--port", "0"},
                      R"(demo_grpc listening on 127\.0\.0\.1:(\d+)\n)") {}
};

std::string WriteTemp(const std::string& name, const std::string& text) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// ---------------------------------------------------------------------------------------------
// The demo config itself

// check resolves the gRPC backend's methods as run does: by reflection, so demo_grpc must answer.
TEST(DemoConfigTest, CheckAndLintPass) {
  DemoGrpcProcess grpc;
  const std::string config = WriteTemp("demo.json", DemoConfig(9000, grpc.port()));
  CommandResult check = RunSluice({"check", "-c", config});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find("Syntax OK!"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("(8 endpoints"), std::string::npos) << check.out;

  CommandResult lint = RunSluice({"check", "-c", config, "--lint"});
  EXPECT_EQ(lint.exit_code, 0) << lint.err;
  EXPECT_EQ(lint.err, "") << "lint findings in examples/demo.json";
}

// ---------------------------------------------------------------------------------------------
// Each demo endpoint through the gateway. One backend and one gateway serve the whole suite.

class DemoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    backend_ = new DemoBackendProcess();
    grpc_ = new DemoGrpcProcess();
    gateway_ = new SluiceProcess(DemoConfig(backend_->port(), grpc_->port()));
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete grpc_;
    delete backend_;
    gateway_ = nullptr;
    grpc_ = nullptr;
    backend_ = nullptr;
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "sluice log:\n" << gateway_->log();
  }

  static Response Get(const std::string& target) { return Fetch(gateway_->port(), "GET", target); }

  static DemoBackendProcess* backend_;
  static DemoGrpcProcess* grpc_;
  static SluiceProcess* gateway_;
};
DemoBackendProcess* DemoTest::backend_ = nullptr;
DemoGrpcProcess* DemoTest::grpc_ = nullptr;
SluiceProcess* DemoTest::gateway_ = nullptr;

TEST_F(DemoTest, UserIsDecodedAndRendered) {
  Response res = Get("/users/1");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), R"({"email":"ada@example.com","id":1,"name":"Ada Lovelace"})");
  EXPECT_EQ(Header(res, "X-Krakend-Completed"), "true");
  // A json endpoint renders its own response: the backend's headers stay behind.
  EXPECT_EQ(Header(res, "Server"), "<absent>");
}

TEST_F(DemoTest, UnknownUserIsAKrakenDStyleFailure) {
  // The backend answers 404; KrakenD's default policy turns a failed only backend into 500.
  Response res = Get("/users/9");
  EXPECT_EQ(res.result_int(), 500u);
  EXPECT_EQ(res.body(), "");
  EXPECT_EQ(Header(res, "X-Krakend-Completed"), "false");
}

TEST_F(DemoTest, PostsArrayIsWrappedAsCollection) {
  Response res = Get("/users/1/posts");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(),
            R"({"collection":[{"id":1,"title":"Notes on the Analytical Engine","user_id":1},)"
            R"({"id":2,"title":"On Bernoulli numbers","user_id":1}]})");
}

TEST_F(DemoTest, ProfileMergesUserAndPosts) {
  Response res = Get("/profile/2");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), R"({"collection":[{"id":3,"title":"On computable numbers","user_id":2},)"
                        R"({"id":4,"title":"Computing machinery and intelligence","user_id":2}],)"
                        R"("email":"alan@example.com","id":2,"name":"Alan Turing"})");
  EXPECT_EQ(Header(res, "X-Krakend-Completed"), "true");
}

TEST_F(DemoTest, RawStatusPassesBackendBytesThrough) {
  Response res = Get("/raw/status");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), R"({"ok":true})");
  EXPECT_EQ(Header(res, "Content-Type"), "application/json");
  EXPECT_EQ(Header(res, "Server"), "demo_backend");
}

TEST_F(DemoTest, EchoForwardsBodyAndContentType) {
  Response res = Fetch(gateway_->port(), "POST", "/echo",
                       {{"Content-Type", "application/json"}, {"X-Not-Forwarded", "1"}},
                       R"({"hello":"sluice"})");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), R"({"content_type":"application/json","received":{"hello":"sluice"}})");

  Response get = Get("/echo");
  EXPECT_EQ(get.result_int(), 405u);
  EXPECT_EQ(get.body(), "405 method not allowed");
}

TEST_F(DemoTest, SearchForwardsOnlyQ) {
  Response res = Get("/search?q=gate&page=2");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(),
            R"({"count":2,"items":[{"name":"Sluice gate","price_cents":12000,"sku":"SL-100"},)"
            R"({"name":"Gate valve","price_cents":4500,"sku":"SL-200"}],"query":"gate"})");

  // Without q the backend returns the whole catalogue and no "query" key.
  Response all = Get("/search?page=2");
  EXPECT_EQ(all.result_int(), 200u);
  EXPECT_NE(all.body().find(R"("count":4,)"), std::string::npos) << all.body();
  EXPECT_EQ(all.body().find(R"("query")"), std::string::npos) << all.body();
}

TEST_F(DemoTest, ProductMergesGrpcAndRest) {
  Response res = Get("/products/2");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(),
            R"({"product":{"id":2,"kind":"GAME","name":"Chess Set","shipping_time":"0.250s",)"
            R"("unavailable_reason":"discontinued","updated_at":"2025-06-01T00:00:00.5Z"},)"
            R"("seller":{"email":"alan@example.com","id":2,"name":"Alan Turing"}})");
}

TEST_F(DemoTest, ProductSearchMapsQToTheRequestMessage) {
  Response res = Get("/products?q=chess");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(),
            R"({"products":[{"id":2,"kind":"GAME","name":"Chess Set","shipping_time":"0.250s",)"
            R"("unavailable_reason":"discontinued","updated_at":"2025-06-01T00:00:00.5Z"}],)"
            R"("total":1})");
}

TEST_F(DemoTest, UnknownProductIsTheGrpcStatus) {
  Response res = Get("/products/9");
  EXPECT_EQ(res.result_int(), 404u);
  EXPECT_EQ(res.body(), R"({"code":5,"message":"product 9 not found"})");
}

// ---------------------------------------------------------------------------------------------
// The backend's own endpoints that the demo config does not route

TEST(DemoBackendTest, RedirectSlowAndNotFound) {
  DemoBackendProcess backend;
  Response redirect = Fetch(backend.port(), "GET", "/redirect");
  EXPECT_EQ(redirect.result_int(), 302u);
  EXPECT_EQ(Header(redirect, "Location"), "/status");

  Response missing = Fetch(backend.port(), "GET", "/nope");
  EXPECT_EQ(missing.result_int(), 404u);
  EXPECT_EQ(missing.body(), R"({"error":"no such path: /nope"})");

  Response bad = Fetch(backend.port(), "GET", "/slow?ms=abc");
  EXPECT_EQ(bad.result_int(), 400u);

  // More concurrent /slow requests than the backend has threads: /status must still answer at
  // once, so the delay is a timer and not a blocked thread.
  constexpr int kSlowRequests = 4;
  std::vector<std::future<Response>> slow;
  auto started = steady_clock::now();
  for (int i = 0; i < kSlowRequests; ++i) {
    slow.push_back(std::async(
        std::launch::async, [&backend] { return Fetch(backend.port(), "GET", "/slow?ms=3000"); }));
  }
  Response status = Fetch(backend.port(), "GET", "/status");
  auto status_took = steady_clock::now() - started;
  EXPECT_EQ(status.body(), R"({"ok":true})");
  EXPECT_LT(status_took, milliseconds(2500));  // not after the 3 s sleeps
  for (auto& f : slow) {
    Response r = f.get();
    EXPECT_EQ(r.result_int(), 200u);
    EXPECT_EQ(r.body(), R"({"slept_ms":3000})");
  }
  EXPECT_GE(steady_clock::now() - started, milliseconds(1500));
}

TEST(DemoBackendTest, SigtermExitsZero) {
  DemoBackendProcess backend;
  HttpClient idle(backend.port());  // a keep-alive connection that stays open
  EXPECT_EQ(idle.Get("/status").result_int(), 200u);
  EXPECT_EQ(backend.StopWith(SIGTERM), 0);
}

}  // namespace
}  // namespace sluice::testing
