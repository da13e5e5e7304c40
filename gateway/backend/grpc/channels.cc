#include "gateway/backend/grpc/channels.h"

#include <openssl/ssl.h>

#include "absl/strings/str_cat.h"
#include "boost/asio/buffer.hpp"
#include "boost/asio/post.hpp"
#include "grpcpp/security/credentials.h"

namespace sluice::backend::grpc {

namespace {

// gRPC C++'s TLS 1.2 suites (GRPC_SSL_CIPHER_SUITES' default): ECDHE with AES-GCM only, as
// RFC 9113 9.2.2 asks of HTTP/2. TLS 1.3's suites are OpenSSL's.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-RSA-AES256-GCM-SHA384";

// The TLS context of gRPC backends with `tls`, as gRPC C++ made its credentials: the roots when
// given (and then only them), else the system's; the client certificate when given; TLS 1.2 or
// 1.3 without renegotiation; ALPN h2, which gRPC servers require. Errors start with the
// client_tls key at fault.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> TlsContext(
    const components::backend_grpc::Config::Tls& tls) {
  namespace ssl = boost::asio::ssl;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  context->set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                           SSL_OP_NO_RENEGOTIATION,
                       ec);
  if (!ec && SSL_CTX_set_cipher_list(context->native_handle(), kTls12Ciphers) != 1) {
    return absl::InternalError("tls: no TLS 1.2 cipher suite available");
  }
  // An encrypted key fails to load instead of OpenSSL asking for its passphrase on the terminal.
  if (!ec) {
    context->set_password_callback(
        [](std::size_t, ssl::context::password_purpose) { return std::string(); }, ec);
  }
  if (!ec) context->set_verify_mode(tls.insecure ? ssl::verify_none : ssl::verify_peer, ec);
  if (!ec) {
    if (tls.roots.empty()) {
      context->set_default_verify_paths(ec);
    } else {
      context->add_certificate_authority(boost::asio::buffer(tls.roots), ec);
      if (ec) {
        return absl::InvalidArgumentError(absl::StrCat(
            "client_tls.ca_certs: not certificates OpenSSL can read (", ec.message(), ")"));
      }
    }
  }
  if (!ec && !tls.certificate_chain.empty()) {
    context->use_certificate_chain(boost::asio::buffer(tls.certificate_chain), ec);
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat(
          "client_tls.client_certs[0].certificate: not a certificate chain OpenSSL can read (",
          ec.message(), ")"));
    }
    context->use_private_key(boost::asio::buffer(tls.private_key), ssl::context::pem, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("client_tls.client_certs[0].private_key: not a private key OpenSSL can read "
                       "(encrypted keys are not supported) or not the certificate's (",
                       ec.message(), ")"));
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("tls: ", ec.message()));
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  if (SSL_CTX_set_alpn_protos(context->native_handle(), kAlpn, sizeof kAlpn) != 0) {
    return absl::InternalError("tls: cannot offer ALPN h2");
  }
  return context;
}

}  // namespace

std::string Target(const config::HostAddress& h) {
  return h.host.find(':') != std::string::npos ? absl::StrCat("[", h.host, "]:", h.port)
                                               : absl::StrCat(h.host, ":", h.port);
}

absl::StatusOr<std::unique_ptr<Channels>> Channels::Create(
    const components::grpc::Config* catalog, const std::string& config_dir,
    const std::vector<boost::asio::io_context*>& workers) {
  std::unique_ptr<Channels> channels(new Channels());
  channels->workers_ = workers;
  for (boost::asio::io_context* ioc : workers) {
    channels->clients_.push_back(std::make_shared<H2Client>(*ioc, channels->catalog_));
  }
  if (catalog == nullptr || catalog->catalog.empty()) return channels;
  for (size_t i = 0; i < catalog->catalog.size(); ++i) {
    std::string path = catalog->catalog[i];
    if (path.front() != '/') path = absl::StrCat(config_dir, "/", path);
    if (absl::Status s = channels->catalog_->AddPath(path); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("extra_config.grpc.catalog[", i, "]: ", s.message()));
    }
  }
  if (absl::Status s = channels->catalog_->Build(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("extra_config.grpc.catalog: ", s.message()));
  }
  return channels;
}

Channels::~Channels() {
  for (size_t i = 0; i < clients_.size(); ++i) {
    boost::asio::post(*workers_[i], [client = std::move(clients_[i])] { client->Close(); });
  }
}

absl::StatusOr<int> Channels::RegisterHost(const config::HostAddress& host,
                                           const components::backend_grpc::Config::Tls* tls) {
  std::shared_ptr<boost::asio::ssl::context> context;
  if (tls != nullptr) {
    const std::string key = absl::StrCat(tls->insecure, "|", tls->roots, "|",
                                         tls->certificate_chain, "|", tls->private_key);
    for (const auto& [k, made] : tls_) {
      if (k == key) context = made;
    }
    if (context == nullptr) {
      auto made = TlsContext(*tls);
      if (!made.ok()) return made.status();
      context = *made;
      tls_.emplace_back(key, context);
    }
  }
  int slot = 0;
  for (const auto& client : clients_) slot = client->RegisterHost(host, context);
  return slot;
}

std::shared_ptr<::grpc::ChannelCredentials> Credentials(
    const components::backend_grpc::Config::Tls* tls) {
  if (tls == nullptr) return ::grpc::InsecureChannelCredentials();
  ::grpc::SslCredentialsOptions options;
  options.pem_root_certs = tls->roots;
  options.pem_private_key = tls->private_key;
  options.pem_cert_chain = tls->certificate_chain;
  return ::grpc::SslCredentials(options);
}

}  // namespace sluice::backend::grpc
