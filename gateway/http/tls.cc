#include "gateway/http/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "boost/asio/ip/address.hpp"

namespace sluice::http {

namespace asio = boost::asio;

namespace {

// A PEM file larger than this is not a certificate or a key (a CA bundle is ~200 KiB).
constexpr std::streamsize kMaxPemBytes = 4 << 20;

// ALPN, in preference order: HTTP/2, then HTTP/1.1.
constexpr unsigned char kAlpn[] = "\x02h2\x08http/1.1";

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

// The last OpenSSL error, in words, and the queue cleared.
std::string OpenSslError() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

// ReadPemFile, its error prefixed by the config key that named the file.
absl::StatusOr<std::string> ReadPem(const std::string& key_path, const std::string& file) {
  auto bytes = ReadPemFile(file);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(key_path, ": ", bytes.status().message()));
  }
  return bytes;
}

// Every certificate of a PEM file, in file order.
absl::StatusOr<std::vector<X509*>> ReadCertificates(const std::string& key_path,
                                                    const std::string& file) {
  auto pem = ReadPem(key_path, file);
  if (!pem.ok()) return pem.status();
  BioPtr bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  std::vector<X509*> out;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    out.push_back(cert);
  }
  ERR_clear_error();  // the loop ends on "no start line"
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_path, ": \"", file, "\" holds no PEM certificate"));
  }
  return out;
}

std::string Time(const ASN1_TIME* time) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASN1_TIME_print(bio.get(), time);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string Serial(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string out = hex != nullptr ? hex : "?";
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

absl::Status SetVersions(SSL_CTX* ctx, const config::TlsSettings& settings) {
  if (SSL_CTX_set_min_proto_version(ctx, settings.min_version) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, settings.max_version) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(settings.json_path, ".min_version: ", OpenSslError()));
  }
  return absl::OkStatus();
}

// Go's TLS 1.2 defaults (KrakenD's): ECDHE with AES-GCM or ChaCha20-Poly1305.
constexpr uint16_t kDefaultCipherSuites[] = {0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8};
// Every TLS 1.0-1.2 suite Go's crypto/tls implements (what a KrakenD file can name).
constexpr uint16_t kGoCipherSuites[] = {
    0x0005, 0x000a, 0x002f, 0x0035, 0x003c, 0x009c, 0x009d, 0xc007, 0xc009, 0xc00a, 0xc011,
    0xc012, 0xc013, 0xc014, 0xc023, 0xc027, 0xc02b, 0xc02c, 0xc02f, 0xc030, 0xcca8, 0xcca9};
// P-521, P-384, P-256: KrakenD's default curve_preferences.
constexpr uint16_t kDefaultCurves[] = {25, 24, 23};

absl::Status SetAlgorithms(SSL_CTX* ctx, const config::TlsSettings& settings, bool defaults) {
  std::vector<uint16_t> suites = settings.cipher_suites;
  if (suites.empty() && defaults) {
    suites.assign(std::begin(kDefaultCipherSuites), std::end(kDefaultCipherSuites));
  }
  if (!suites.empty()) {
    SSL* probe = SSL_new(ctx);
    std::vector<std::string> names;
    for (uint16_t id : suites) {
      if (id >= 0x1301 && id <= 0x1303) continue;  // TLS 1.3 suites: fixed, as in Go
      if (std::find(std::begin(kGoCipherSuites), std::end(kGoCipherSuites), id) ==
          std::end(kGoCipherSuites)) {
        SSL_free(probe);
        return absl::InvalidArgumentError(
            absl::StrFormat("%s.cipher_suites: %d (0x%04x) is not one of Go's TLS 1.0-1.2 cipher "
                            "suites (crypto/tls), which KrakenD accepts",
                            settings.json_path, id, id));
      }
      const unsigned char bytes[2] = {static_cast<unsigned char>(id >> 8),
                                      static_cast<unsigned char>(id & 0xff)};
      const SSL_CIPHER* cipher = SSL_CIPHER_find(probe, bytes);
      if (cipher == nullptr) {
        SSL_free(probe);
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s.cipher_suites: %d (0x%04x) is not a cipher suite this OpenSSL knows",
            settings.json_path, id, id));
      }
      names.push_back(SSL_CIPHER_get_name(cipher));
    }
    SSL_free(probe);
    if (!names.empty() && SSL_CTX_set_cipher_list(ctx, absl::StrJoin(names, ":").c_str()) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(settings.json_path, ".cipher_suites: ", OpenSslError()));
    }
  }
  std::vector<uint16_t> curves = settings.curve_preferences;
  if (curves.empty() && defaults)
    curves.assign(std::begin(kDefaultCurves), std::end(kDefaultCurves));
  if (!curves.empty()) {
    std::vector<std::string> names;
    for (uint16_t id : curves) {
      switch (id) {
        case 23:
          names.push_back("P-256");
          break;
        case 24:
          names.push_back("P-384");
          break;
        case 25:
          names.push_back("P-521");
          break;
        case 29:
          names.push_back("X25519");
          break;
        default:
          return absl::InvalidArgumentError(
              absl::StrCat(settings.json_path, ".curve_preferences: ", id,
                           " is not one of Go's curves (23 P-256, 24 P-384, 25 P-521, 29 X25519)"));
      }
    }
    if (SSL_CTX_set1_groups_list(ctx, absl::StrJoin(names, ":").c_str()) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(settings.json_path, ".curve_preferences: ", OpenSslError()));
    }
  }
  return absl::OkStatus();
}

// The trusted CAs: the system's (unless disabled) and every certificate of `ca_certs`.
absl::Status SetTrust(SSL_CTX* ctx, const config::TlsSettings& settings,
                      bool advertise_to_clients) {
  if (!settings.disable_system_ca_pool) SSL_CTX_set_default_verify_paths(ctx);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (size_t i = 0; i < settings.ca_certs.size(); ++i) {
    const std::string key = settings.ca_certs_key.empty()
                                ? absl::StrCat(settings.json_path, ".ca_certs[", i, "]")
                                : absl::StrCat(settings.json_path, ".", settings.ca_certs_key);
    auto certs = ReadCertificates(key, settings.ca_certs[i]);
    if (!certs.ok()) return certs.status();
    for (X509* cert : *certs) {
      X509_STORE_add_cert(store, cert);
      if (advertise_to_clients) SSL_CTX_add_client_CA(ctx, cert);
      X509_free(cert);
    }
  }
  ERR_clear_error();  // "cert already in hash table" for duplicates is harmless
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadPemFile(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read \"", file, "\": ", std::strerror(errno)));
  }
  std::string bytes;
  bytes.resize(static_cast<size_t>(kMaxPemBytes) + 1);
  in.read(bytes.data(), kMaxPemBytes + 1);
  bytes.resize(static_cast<size_t>(in.gcount()));
  if (static_cast<std::streamsize>(bytes.size()) > kMaxPemBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", file, "\" is larger than ", kMaxPemBytes >> 20, " MiB"));
  }
  return bytes;
}

// One certificate with its chain and key, read and checked.
struct ServerTls::Certificate {
  ~Certificate() {
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
  }
  X509* leaf = nullptr;
  STACK_OF(X509) * chain = sk_X509_new_null();
  EVP_PKEY* key = nullptr;
};

namespace {

absl::StatusOr<std::unique_ptr<ServerTls::Certificate>> LoadPair(const config::TlsKeyPair& pair,
                                                                 const char* certificate_key) {
  const std::string cert_path = absl::StrCat(pair.json_path, ".", certificate_key);
  const std::string key_path = absl::StrCat(pair.json_path, ".private_key");
  auto certs = ReadCertificates(cert_path, pair.certificate);
  if (!certs.ok()) return certs.status();
  auto out = std::make_unique<ServerTls::Certificate>();
  out->leaf = (*certs)[0];
  for (size_t i = 1; i < certs->size(); ++i) sk_X509_push(out->chain, (*certs)[i]);
  auto pem = ReadPem(key_path, pair.private_key);
  if (!pem.ok()) return pem.status();
  BioPtr bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  // An empty passphrase, never OpenSSL's default of asking on the terminal: an encrypted key
  // fails here instead of blocking start-up (or a reload) on a prompt.
  out->key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, const_cast<char*>(""));
  if (out->key == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        key_path, ": \"", pair.private_key, "\" holds no PEM private key (or an encrypted one)"));
  }
  if (X509_check_private_key(out->leaf, out->key) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(key_path, ": \"", pair.private_key,
                                                   "\" is not the key of the certificate \"",
                                                   pair.certificate, "\""));
  }
  if (X509_cmp_current_time(X509_get0_notAfter(out->leaf)) < 0) {
    return absl::InvalidArgumentError(absl::StrCat(cert_path, ": \"", pair.certificate,
                                                   "\" expired on ",
                                                   Time(X509_get0_notAfter(out->leaf))));
  }
  return out;
}

// With several certificates: the first whose names match the client's SNI, else the first.
int SelectBySni(SSL* ssl, void* arg) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return 1;
  auto* certificates = static_cast<std::vector<std::unique_ptr<ServerTls::Certificate>>*>(arg);
  for (size_t i = 1; i < certificates->size(); ++i) {
    const ServerTls::Certificate& c = *(*certificates)[i];
    if (X509_check_host(c.leaf, name, std::strlen(name), 0, nullptr) == 1) {
      return SSL_use_cert_and_key(ssl, c.leaf, c.key, c.chain, 1);
    }
  }
  return 1;
}

int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, kAlpn, sizeof(kAlpn) - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // no common protocol: go on without ALPN (HTTP/1.1)
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

ServerTls::ServerTls() : context_(asio::ssl::context::tls_server) {}
ServerTls::~ServerTls() = default;

absl::StatusOr<std::shared_ptr<ServerTls>> ServerTls::Create(const config::ListenerTls& config) {
  std::shared_ptr<ServerTls> tls(new ServerTls());
  SSL_CTX* ctx = tls->context_.native_handle();
  if (absl::Status st = SetVersions(ctx, config); !st.ok()) return st;
  if (absl::Status st = SetAlgorithms(ctx, config, true); !st.ok()) return st;
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  std::vector<std::string> summary;
  for (const config::TlsKeyPair& pair : config.keys) {
    auto cert = LoadPair(pair, "public_key");
    if (!cert.ok()) return cert.status();
    summary.push_back(absl::StrCat("serial ", Serial((*cert)->leaf), " expiring ",
                                   Time(X509_get0_notAfter((*cert)->leaf))));
    tls->certificates_.push_back(std::move(*cert));
  }
  if (tls->certificates_.empty()) return absl::InvalidArgumentError("tls: no certificate");
  const Certificate& first = *tls->certificates_.front();
  if (SSL_CTX_use_cert_and_key(ctx, first.leaf, first.key, first.chain, 1) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.keys.front().json_path, ".public_key: ", OpenSslError()));
  }
  if (tls->certificates_.size() > 1) SSL_CTX_set_cert_cb(ctx, &SelectBySni, &tls->certificates_);
  SSL_CTX_set_alpn_select_cb(ctx, &SelectAlpn, nullptr);
  if (config.enable_mtls) {
    if (absl::Status st = SetTrust(ctx, config, true); !st.ok()) return st;
    // KrakenD also trusts the listener's own certificates for client certificates.
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (const auto& c : tls->certificates_) X509_STORE_add_cert(store, c->leaf);
    ERR_clear_error();
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    static constexpr unsigned char kSessionContext[] = "sluice";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  }
  tls->summary_ = absl::StrJoin(summary, ", ");
  return tls;
}

ServerTlsStore::ServerTlsStore(config::ListenerTls config, std::shared_ptr<ServerTls> first)
    : config_(std::move(config)), current_(std::move(first)) {
  loaded_fingerprint_ = Fingerprint();
}

std::string ServerTlsStore::Fingerprint() const {
  std::string out;
  auto add = [&out](const std::string& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) {
      absl::StrAppend(&out, file, ":missing;");
      return;
    }
    absl::StrAppend(&out, file, ":", st.st_dev, ":", st.st_ino, ":", st.st_size, ":",
                    st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, ";");
  };
  for (const auto& pair : config_.keys) {
    add(pair.certificate);
    add(pair.private_key);
  }
  for (const auto& file : config_.ca_certs) add(file);
  return out;
}

ServerTlsStore::Outcome ServerTlsStore::Reload(bool force, std::string* message) {
  absl::MutexLock lock(&mu_);
  const std::string fingerprint = Fingerprint();
  if (!force && (fingerprint == loaded_fingerprint_ || fingerprint == failed_fingerprint_)) {
    return Outcome::kUnchanged;
  }
  auto next = ServerTls::Create(config_);
  if (!next.ok()) {
    failed_fingerprint_ = fingerprint;
    *message = std::string(next.status().message());
    return Outcome::kFailed;
  }
  *message = (*next)->summary();
  std::atomic_store(&current_, std::move(*next));
  loaded_fingerprint_ = fingerprint;
  failed_fingerprint_.clear();
  return Outcome::kReloaded;
}

namespace {
// Asio owns SSL_set_app_data (its verify callback): the slot has an ex_data index of its own.
int SessionSlotIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
}  // namespace

void AttachSessionSlot(SSL* ssl, TlsSessionSlot* slot) {
  SSL_set_ex_data(ssl, SessionSlotIndex(), slot);
}

absl::StatusOr<std::shared_ptr<asio::ssl::context>> CreateClientContext(
    const config::ClientTls& config) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX* ctx = context->native_handle();
  if (absl::Status st = SetVersions(ctx, config); !st.ok()) return st;
  // Without a client_tls object, Go's client defaults (OpenSSL's are equivalent).
  if (absl::Status st = SetAlgorithms(ctx, config, config.configured); !st.ok()) return st;
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (absl::Status st = SetTrust(ctx, config, false); !st.ok()) return st;
  SSL_CTX_set_verify(ctx, config.allow_insecure_connections ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                     nullptr);
  // Sessions are kept per backend host by the REST client, for resumption on new connections:
  // each new one lands in the connection's TlsSessionSlot.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, [](SSL* ssl, SSL_SESSION* session) -> int {
    auto* slot = static_cast<TlsSessionSlot*>(SSL_get_ex_data(ssl, SessionSlotIndex()));
    if (slot == nullptr) return 0;  // not ours to keep: OpenSSL frees it
    SSL_SESSION_free(slot->session);
    slot->session = session;
    return 1;
  });
  if (!config.client_certs.empty()) {
    // The first pair: Go offers the first certificate too when the server names no CA it has.
    auto cert = LoadPair(config.client_certs.front(), "certificate");
    if (!cert.ok()) return cert.status();
    for (size_t i = 1; i < config.client_certs.size(); ++i) {
      auto other = LoadPair(config.client_certs[i], "certificate");
      if (!other.ok()) return other.status();
    }
    if (SSL_CTX_use_cert_and_key(ctx, (*cert)->leaf, (*cert)->key, (*cert)->chain, 1) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(config.client_certs.front().json_path, ".certificate: ", OpenSslError()));
    }
  }
  return context;
}

absl::Status PrepareClientConnection(SSL* ssl, const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  const bool ip = !ec;
  // SNI carries names only (RFC 6066 section 3).
  if (!ip && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) {
    return absl::InternalError(absl::StrCat("tls: SNI ", host, ": ", OpenSslError()));
  }
  // Without allow_insecure_connections the context verifies the chain; this adds the name.
  const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str())
                    : SSL_set1_host(ssl, host.c_str());
  if (ok != 1) return absl::InternalError(absl::StrCat("tls: host ", host, ": ", OpenSslError()));
  return absl::OkStatus();
}

std::string HandshakeError(SSL* ssl, const boost::system::error_code& ec) {
  const long result = SSL_get_verify_result(ssl);
  if (result != X509_V_OK) {
    return absl::StrCat("tls: the backend's certificate is not trusted: ",
                        X509_verify_cert_error_string(result));
  }
  return absl::StrCat("tls handshake: ", ec.message());
}

}  // namespace sluice::http
