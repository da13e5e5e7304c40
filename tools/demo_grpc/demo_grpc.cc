// demo_grpc: the small gRPC service (shop.Shop, proto/shop/shop.proto) that `tools/demo` and the
// gRPC integration tests put behind Sluice. It serves on 127.0.0.1 only, with server reflection
// (so `"descriptor_source": "reflection"` and grpcurl work without a descriptor file).
//
//   GetProduct  products 1 and 2; 3+ NOT_FOUND; 0 or less INVALID_ARGUMENT
//   Search      products whose name contains `query` (any case) and, if set, of `kind`; echoes
//               the request and the call's metadata
//   Fail        waits delay_ms (at most 5000), then answers with status `code`
//
// Usage: demo_grpc [--port N] [--name NAME] [--tls CERT KEY [--client-ca CA]]   (port 9001 by
// default, 0 lets the kernel pick; NAME is returned by Search as `server`, default "demo_grpc";
// --tls serves TLS with that PEM certificate and key; --client-ca then requires a client
// certificate signed by CA). Prints
// "demo_grpc listening on 127.0.0.1:PORT" once serving; SIGTERM or SIGINT stops it.

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "proto/shop/shop.grpc.pb.h"

namespace {

constexpr int kDefaultPort = 9001;
constexpr int kMaxDelayMs = 5000;

shop::Product ProductOne() {
  shop::Product p;
  p.set_id(1);
  p.set_name("The Pragmatic Programmer");
  p.set_kind(shop::BOOK);
  p.add_tags("software");
  p.add_tags("classic");
  (*p.mutable_stock())["berlin"] = 3;
  (*p.mutable_stock())["lisbon"] = 0;
  p.mutable_price()->set_currency("EUR");
  p.mutable_price()->set_units(39);
  p.mutable_price()->set_nanos(900000000);
  p.mutable_updated_at()->set_seconds(1768473000);  // 2026-01-15T10:30:00Z
  p.mutable_dimensions()->set_width_cm(19.1);
  p.mutable_dimensions()->set_height_cm(23.5);
  p.mutable_shipping_time()->set_seconds(172800);  // two days
  p.set_thumbnail(std::string("\x89PNG", 4));
  return p;
}

shop::Product ProductTwo() {
  shop::Product p;
  p.set_id(2);
  p.set_name("Chess Set");
  p.set_kind(shop::GAME);
  p.set_unavailable_reason("discontinued");
  p.mutable_updated_at()->set_seconds(1748736000);  // 2025-06-01T00:00:00.5Z
  p.mutable_updated_at()->set_nanos(500000000);
  p.mutable_shipping_time()->set_nanos(250000000);
  return p;
}

// GetProduct, the call tools/bench loads, on the callback API: it answers on the thread that
// read the call. On the synchronous API each call also woke a thread of the server's pool, which
// cost 52-95 us of CPU per call (wrk -c32/-c128 through Sluice) and bounded the bench's gRPC row
// by the backend. Search and Fail stay synchronous (Fail sleeps).
class ShopService final : public shop::Shop::WithCallbackMethod_GetProduct<shop::Shop::Service> {
 public:
  explicit ShopService(std::string name) : name_(std::move(name)) {}

 private:
  grpc::ServerUnaryReactor* GetProduct(grpc::CallbackServerContext* ctx,
                                       const shop::GetProductRequest* req,
                                       shop::Product* reply) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(Product(req->id(), reply));
    return reactor;
  }

  static grpc::Status Product(int64_t id, shop::Product* reply) {
    if (id <= 0) return {grpc::StatusCode::INVALID_ARGUMENT, "id must be positive"};
    if (id == 1)
      *reply = ProductOne();
    else if (id == 2)
      *reply = ProductTwo();
    else
      return {grpc::StatusCode::NOT_FOUND, "product " + std::to_string(id) + " not found"};
    return grpc::Status::OK;
  }

  grpc::Status Search(grpc::ServerContext* ctx, const shop::SearchRequest* req,
                      shop::SearchReply* reply) override {
    *reply->mutable_echo() = *req;
    for (const auto& [key, value] : ctx->client_metadata()) {
      std::string k(key.data(), key.size());
      if (absl::StartsWith(k, "grpc-") || k == "user-agent" || k == "te" || k == "content-type") {
        continue;
      }
      (*reply->mutable_metadata())[k] = std::string(value.data(), value.size());
    }
    const std::string query = absl::AsciiStrToLower(req->query());
    for (const shop::Product& p : {ProductOne(), ProductTwo()}) {
      if (!absl::StrContains(absl::AsciiStrToLower(p.name()), query)) continue;
      if (req->kind() != shop::KIND_UNSPECIFIED && p.kind() != req->kind()) continue;
      *reply->add_products() = p;
    }
    reply->set_total(reply->products_size());
    reply->set_server(name_);
    return grpc::Status::OK;
  }

  grpc::Status Fail(grpc::ServerContext* ctx, const shop::FailRequest* req,
                    shop::FailReply*) override {
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(std::clamp(req->delay_ms(), 0, kMaxDelayMs));
    while (std::chrono::steady_clock::now() < until && !ctx->IsCancelled()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return {static_cast<grpc::StatusCode>(req->code()), req->message()};
  }

  std::string name_;
};

}  // namespace

int main(int argc, char** argv) {
  int port = kDefaultPort;
  std::string name = "demo_grpc";
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
      name = argv[++i];
    } else if (std::strcmp(argv[i], "--tls") == 0 && i + 2 < argc) {
      cert_file = argv[++i];
      key_file = argv[++i];
    } else if (std::strcmp(argv[i], "--client-ca") == 0 && i + 1 < argc) {
      client_ca_file = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: demo_grpc [--port N] [--name NAME] [--tls CERT KEY [--client-ca CA]]\n");
      return 2;
    }
  }
  // SIGTERM/SIGINT are waited for by the main thread, not delivered to gRPC's threads.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  ShopService service(name);
  grpc::ServerBuilder builder;
  int bound = 0;
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!cert_file.empty()) {
    auto read = [](const std::string& path) {
      std::ifstream in(path);
      return std::string(std::istreambuf_iterator<char>(in), {});
    };
    grpc::SslServerCredentialsOptions options;
    options.pem_key_cert_pairs.push_back({read(key_file), read(cert_file)});
    if (!client_ca_file.empty()) {  // clients must present a certificate signed by CA
      options.pem_root_certs = read(client_ca_file);
      options.client_certificate_request =
          GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    credentials = grpc::SslServerCredentials(options);
  }
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), credentials, &bound);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound == 0) {
    std::fprintf(stderr, "demo_grpc: cannot listen on 127.0.0.1:%d\n", port);
    return 1;
  }
  std::printf("demo_grpc listening on 127.0.0.1:%d\n", bound);
  std::fflush(stdout);
  int signo = 0;
  sigwait(&signals, &signo);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}
