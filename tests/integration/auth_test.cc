// auth/validator through the real binary: tokens made by PyJWT (an implementation independent of
// Sluice's, tests/integration/jwt_fixtures.py) for every algorithm, the claims rules (401 vs
// 403), claim propagation to backend headers, the cookie, and keys fetched from an identity
// provider that rotates them (bounded refetches under a flood of unknown kids). A refused request
// never reaches the backend.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;
using std::chrono::milliseconds;

struct Fixtures {
  std::string dir;
  nlohmann::json tokens;
  std::string Token(const std::string& name) const { return tokens.at(name).get<std::string>(); }
};

const Fixtures& Keys() {
  static const Fixtures fixtures = [] {
    Fixtures f;
    const char* tmp = std::getenv("TEST_TMPDIR");
    f.dir = std::string(tmp != nullptr ? tmp : "/tmp") + "/jwt";
    mkdir(f.dir.c_str(), 0700);
    // Debian's python3 (with python3-jwt), not whatever python3 comes first on PATH.
    CommandResult r =
        RunCommand({"/usr/bin/python3", Runfile("tests/integration/jwt_fixtures.py"), f.dir},
                   std::chrono::seconds(60));
    EXPECT_EQ(r.exit_code, 0) << r.err << "\n(run tools/setup: python3-jwt)";
    f.tokens = nlohmann::json::parse(r.out, nullptr, false);
    return f;
  }();
  return fixtures;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// An endpoint `path` guarded by `validator` (a JSON object's members, without braces), calling
// `backend` with the listed input headers.
std::string Endpoint(const std::string& path, const std::string& validator,
                     const std::string& backend, const std::string& input_headers = "[]",
                     const std::string& url_pattern = "/who") {
  return R"({"endpoint": ")" + path + R"(", "input_headers": )" + input_headers +
         R"(, "extra_config": {"auth/validator": {)" + validator +
         R"(}}, "backend": [{"host": [")" + backend + R"("], "url_pattern": ")" + url_pattern +
         R"("}]})";
}

std::string Service(const std::vector<std::string>& endpoints) {
  std::string list;
  for (const std::string& e : endpoints) list += (list.empty() ? "" : ",") + e;
  return R"({"version": 3, "extra_config": {"telemetry/logging": {"level": "WARNING"}},
      "endpoints": [)" +
         list + "]}";
}

Response Get(uint16_t port, const std::string& target, const Headers& headers = {}) {
  return Fetch(port, "GET", target, headers);
}
Headers Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

// Echoes the headers a validator may set, so tests can see what reached the backend.
TestBackend EchoBackend() {
  return TestBackend([](const Request& req) {
    nlohmann::json j = nlohmann::json::object();
    for (const char* h : {"X-User", "X-Tenant", "X-N", "X-F", "X-Groups", "X-Missing"}) {
      auto it = req.find(h);
      if (it != req.end()) j[h] = std::string(it->value());
    }
    j["groups_fields"] = req.count("X-Groups");
    j["target"] = std::string(req.target());
    return TestBackend::Json(j.dump());
  });
}

TEST(AuthValidatorTest, EveryAlgorithmVerifiesAndATamperedTokenDoesNot) {
  const Fixtures& f = Keys();
  ASSERT_TRUE(f.tokens.is_object());
  TestBackend backend = EchoBackend();
  const std::string keys =
      R"("jwk_local_path": ")" + f.dir + R"(/jwks.json", "disable_jwk_security": true)";
  std::vector<std::string> endpoints;
  const std::vector<std::string> algs = {"HS256", "HS384", "HS512", "RS256", "RS384",
                                         "RS512", "PS256", "PS384", "PS512", "ES256",
                                         "ES384", "ES512", "EdDSA"};
  for (const std::string& alg : algs) {
    endpoints.push_back(
        Endpoint("/alg/" + alg, R"("alg": ")" + alg + R"(", )" + keys, backend.url()));
  }
  SluiceProcess gw(Service(endpoints));
  for (size_t i = 0; i < algs.size(); ++i) {
    const std::string& alg = algs[i];
    EXPECT_EQ(Get(gw.port(), "/alg/" + alg, Bearer(f.Token(alg))).result_int(), 200u) << alg;
    // Another algorithm's valid token: refused (alg must be exactly the configured one).
    const std::string& other = algs[(i + 1) % algs.size()];
    EXPECT_EQ(Get(gw.port(), "/alg/" + alg, Bearer(f.Token(other))).result_int(), 401u)
        << other << " token on the " << alg << " endpoint";
    // One signature bit flipped.
    std::string bad = f.Token(alg);
    const size_t sig = bad.rfind('.') + 1;
    bad[sig + 2] = bad[sig + 2] == 'A' ? 'B' : 'A';
    EXPECT_EQ(Get(gw.port(), "/alg/" + alg, Bearer(bad)).result_int(), 401u) << alg;
  }
  EXPECT_EQ(backend.request_count(), algs.size());
}

TEST(AuthValidatorTest, WhatIsNotAValidTokenGets401WithAnEmptyBody) {
  const Fixtures& f = Keys();
  TestBackend backend = EchoBackend();
  SluiceProcess gw(Service({
      Endpoint("/rs",
               R"("alg": "RS256", "jwk_local_path": ")" + f.dir +
                   R"(/jwks.json", "disable_jwk_security": true)",
               backend.url()),
      Endpoint("/hs",
               R"("alg": "HS256", "jwk_local_path": ")" + f.dir +
                   R"(/jwks.json", "disable_jwk_security": true)",
               backend.url()),
      Endpoint("/es",
               R"("alg": "ES256", "jwk_local_path": ")" + f.dir +
                   R"(/jwks.json", "disable_jwk_security": true)",
               backend.url()),
      Endpoint("/leeway",
               R"("alg": "RS256", "leeway": "45s", "jwk_local_path": ")" + f.dir +
                   R"(/jwks.json", "disable_jwk_security": true)",
               backend.url()),
  }));
  struct Case {
    std::string path;
    Headers headers;
    unsigned want;
    const char* what;
  };
  const std::vector<Case> cases = {
      {"/rs", {}, 401, "no token"},
      {"/rs", {{"Authorization", "Bearer"}}, 401, "empty bearer"},
      {"/rs", {{"Authorization", "Bearer not.a.jwt"}}, 401, "garbage"},
      {"/rs", {{"Authorization", "Bearer a.b"}}, 401, "two parts"},
      {"/rs", Bearer(f.Token("none")), 401, "alg none"},
      {"/rs", Bearer(f.Token("tampered")), 401, "claims swapped under a valid signature"},
      {"/rs", Bearer(f.Token("expired")), 401, "expired"},
      {"/rs", Bearer(f.Token("not_yet")), 401, "nbf in the future"},
      {"/rs", Bearer(f.Token("issued_in_future")), 401, "iat in the future"},
      {"/rs", Bearer(f.Token("exp_string")), 401, "exp not a number"},
      {"/rs", Bearer(f.Token("no_kid")), 401, "no kid"},
      {"/rs", Bearer(f.Token("rotated")), 401, "unknown kid"},
      {"/rs", Bearer(f.Token("wrong_key_same_kid")), 401, "another key, same kid"},
      {"/hs", Bearer(f.Token("confusion")), 401, "HS256 keyed with the RSA public key"},
      {"/rs", Bearer(f.Token("confusion")), 401, "HS256 token on an RS256 endpoint"},
      {"/es", Bearer(f.Token("curve_mismatch")), 401, "ES256 naming a P-384 key"},
      {"/rs", Bearer(f.Token("expired_30s_ago")), 401, "expired 30 s ago (leeway 1 s)"},
      {"/leeway", Bearer(f.Token("expired_30s_ago")), 200, "expired 30 s ago (leeway 45 s)"},
      {"/leeway", Bearer(f.Token("expired")), 401, "expired 60 s ago (leeway 45 s)"},
      {"/rs", Bearer(f.Token("no_exp")), 200, "no exp at all"},
      {"/rs", {{"Authorization", f.Token("RS256")}}, 200, "without Bearer"},
      {"/rs", {{"authorization", "bearer " + f.Token("RS256")}}, 200, "lower case"},
  };
  for (const Case& c : cases) {
    Response r = Get(gw.port(), c.path, c.headers);
    EXPECT_EQ(r.result_int(), c.want) << c.what;
    if (c.want != 200) {
      EXPECT_EQ(r.body(), "") << c.what;
    }
  }
  EXPECT_EQ(backend.request_count(), 4u);
}

TEST(AuthValidatorTest, ClaimsRulesRolesScopesAndPropagation) {
  const Fixtures& f = Keys();
  TestBackend backend = EchoBackend();
  const std::string validator = R"("alg": "RS256", "jwk_local_path": ")" + f.dir +
                                R"(/jwks.json", "disable_jwk_security": true,
      "issuer": "https://idp.test", "audience": ["api"],
      "roles": ["admin"], "roles_key": "realm_access.roles", "roles_key_is_nested": true,
      "scopes": ["read", "write"], "scopes_key": "scope", "scopes_matcher": "all",
      "propagate_claims": [["sub", "X-User"], ["http://example.com/tenant", "X-Tenant"],
                           ["n", "X-N"], ["f", "X-F"], ["groups", "X-Groups"],
                           ["missing", "X-Missing"]])";
  SluiceProcess gw(
      Service({Endpoint("/policy", validator, backend.url(),
                        R"(["X-User", "X-Tenant", "X-N", "X-F", "X-Groups", "X-Missing"])"),
               Endpoint("/mine/{p}",
                        R"("alg": "RS256", "jwk_local_path": ")" + f.dir +
                            R"(/jwks.json", "disable_jwk_security": true)",
                        backend.url(), "[]",
                        "/users/{JWT.sub}/{p}/{JWT.http://example.com/tenant}/{JWT.n}/"
                        "{JWT.groups}/{JWT.missing}"),
               Endpoint("/cookie",
                        R"("alg": "RS256", "cookie_key": "session", "jwk_local_path": ")" + f.dir +
                            R"(/jwks.json", "disable_jwk_security": true)",
                        backend.url())}));

  // The client's own X-User is replaced by the claim.
  Headers h = Bearer(f.Token("RS256"));
  h.emplace_back("X-User", "mallory");
  Response ok = Get(gw.port(), "/policy", h);
  ASSERT_EQ(ok.result_int(), 200u) << ok.body();
  nlohmann::json seen = nlohmann::json::parse(ok.body());
  EXPECT_EQ(seen["X-User"], "alice");
  EXPECT_EQ(seen["X-Tenant"], "acme");  // a claim named by a URL is not split at its dots
  EXPECT_EQ(seen["X-N"], "42");
  EXPECT_EQ(seen["X-F"], "1.500000");
  EXPECT_EQ(seen["X-Groups"], "a,b");
  EXPECT_EQ(seen["X-Missing"], "");
  EXPECT_EQ(seen["groups_fields"], 1);
  EXPECT_EQ(seen["target"], "/who");

  EXPECT_EQ(Get(gw.port(), "/policy", Bearer(f.Token("audience_string"))).result_int(), 200u);
  EXPECT_EQ(Get(gw.port(), "/policy", Bearer(f.Token("wrong_issuer"))).result_int(), 401u);
  EXPECT_EQ(Get(gw.port(), "/policy", Bearer(f.Token("wrong_audience"))).result_int(), 401u);
  // Valid tokens without the role, or without every scope: 403, empty.
  Response not_admin = Get(gw.port(), "/policy", Bearer(f.Token("not_admin")));
  EXPECT_EQ(not_admin.result_int(), 403u);
  EXPECT_EQ(not_admin.body(), "");
  EXPECT_EQ(Get(gw.port(), "/policy", Bearer(f.Token("read_only"))).result_int(), 403u);
  const size_t calls = backend.request_count();
  EXPECT_EQ(calls, 2u);

  // {JWT.claim} placeholders in url_pattern: flat claims (a URL-named one too), percent-encoded;
  // a missing one leaves KrakenD's internal placeholder.
  Response mine = Get(gw.port(), "/mine/x", Bearer(f.Token("RS256")));
  ASSERT_EQ(mine.result_int(), 200u) << mine.body();
  EXPECT_EQ(nlohmann::json::parse(mine.body())["target"],
            "/users/alice/x/acme/42/a%2Cb/%7B%7B.JWT.missing%7D%7D");
  EXPECT_EQ(Get(gw.port(), "/mine/x").result_int(), 401u);

  // The cookie is read only when the header is absent.
  const std::string cookie = "theme=dark; session=" + f.Token("RS256");
  EXPECT_EQ(Get(gw.port(), "/cookie", {{"Cookie", cookie}}).result_int(), 200u);
  EXPECT_EQ(Get(gw.port(), "/cookie", {{"Cookie", "session=" + f.Token("expired")}}).result_int(),
            401u);
  EXPECT_EQ(Get(gw.port(), "/cookie", {{"Cookie", cookie}, {"Authorization", "Bearer x.y.z"}})
                .result_int(),
            401u);
  EXPECT_EQ(
      Get(gw.port(), "/cookie", {{"Cookie", "access_token=" + f.Token("RS256")}}).result_int(),
      401u);
  EXPECT_EQ(backend.request_count(), calls + 2);
}

TEST(AuthValidatorTest, KeysFromAnIdentityProviderThatRotatesThem) {
  const Fixtures& f = Keys();
  std::mutex mu;
  std::string served = ReadFile(f.dir + "/jwks.json");
  std::chrono::steady_clock::time_point last_served;
  TestBackend idp([&](const Request&) {
    std::lock_guard<std::mutex> lock(mu);
    last_served = std::chrono::steady_clock::now();
    Response res = TestBackend::Json(served);
    res.set("Content-Type", "application/jwk-set+json");
    return res;
  });
  TestBackend backend = EchoBackend();
  SluiceProcess gw(
      Service({Endpoint("/remote",
                        R"("alg": "RS256", "cache": true, "disable_jwk_security": true,
                   "jwk_url": ")" +
                            idp.url() + R"(/jwks")",
                        backend.url()),
               // http:// without disable_jwk_security: KrakenD answers 401 to everything; so do we.
               Endpoint("/insecure", R"("alg": "RS256", "jwk_url": ")" + idp.url() + R"(/jwks")",
                        backend.url())}));
  EXPECT_EQ(Get(gw.port(), "/remote", Bearer(f.Token("RS256"))).result_int(), 200u);
  EXPECT_EQ(Get(gw.port(), "/insecure", Bearer(f.Token("RS256"))).result_int(), 401u);
  EXPECT_EQ(idp.request_count(), 1u) << "one fetch at start, for the endpoint that may use it";

  // A flood of tokens naming unknown kids for 2.5 s: all 401, and the provider sees at most one
  // fetch per second (the cooldown), not one per token.
  const size_t fetches_before = idp.request_count();
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  HttpClient client(gw.port());
  size_t sent = 0, refused = 0;
  const auto& flood = f.tokens["flood"];
  while (elapsed() < 2.5 && sent < 100000) {
    Request req(boost::beast::http::verb::get, "/remote", 11);
    req.set("Authorization", "Bearer " + flood[sent++ % flood.size()].get<std::string>());
    refused += client.Send(std::move(req)).result_int() == 401;
  }
  const double seconds = elapsed();
  EXPECT_EQ(refused, sent);
  const size_t flood_fetches = idp.request_count() - fetches_before;
  EXPECT_LE(flood_fetches, static_cast<size_t>(seconds) + 2) << seconds << " s";
  EXPECT_GE(flood_fetches, 1u) << "an unknown kid does ask for the keys again";

  // The provider adds a key; a token signed with it waits for the refetch and passes.
  {
    std::lock_guard<std::mutex> lock(mu);
    served = ReadFile(f.dir + "/rotated.json");
  }
  // Past the cooldown, counted from the last fetch the provider saw: the gateway starts its
  // cooldown when its fetch begins, which on a loaded machine can be well after the flood's end.
  for (auto wait_until = std::chrono::steady_clock::now() + milliseconds(1100);;) {
    std::this_thread::sleep_until(wait_until);
    std::lock_guard<std::mutex> lock(mu);
    if (last_served + milliseconds(1100) <= wait_until) break;
    wait_until = last_served + milliseconds(1100);
  }
  Response rotated = Get(gw.port(), "/remote", Bearer(f.Token("rotated")));
  EXPECT_EQ(rotated.result_int(), 200u);
  EXPECT_EQ(Get(gw.port(), "/remote", Bearer(f.Token("RS256"))).result_int(), 200u);
  EXPECT_EQ(backend.request_count(), 3u);
  std::cerr << refused << " tokens with unknown kids in " << seconds << " s cost " << flood_fetches
            << " fetches of the JWK Set\n";
}

TEST(AuthValidatorTest, IdentityProviderDownAtStartAndLater) {
  const Fixtures& f = Keys();
  std::atomic<bool> up{false};
  const std::string jwks = ReadFile(f.dir + "/jwks.json");
  TestBackend idp([&](const Request&) {
    return up ? TestBackend::Json(jwks) : TestBackend::Json(R"({"error":"down"})", 503);
  });
  TestBackend backend = EchoBackend();
  SluiceProcess gw(Service({Endpoint("/remote",
                                     R"("alg": "RS256", "disable_jwk_security": true,
                   "cache_duration": 3, "jwk_url": ")" +
                                         idp.url() + R"(/jwks")",
                                     backend.url())}));
  // Down at start: no keys, so no token passes; nothing reaches the backend.
  EXPECT_EQ(Get(gw.port(), "/remote", Bearer(f.Token("RS256"))).result_int(), 401u);
  // Up again: the fetcher's retry (1 s, then 2 s...) brings the keys.
  up = true;
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    served = Get(gw.port(), "/remote", Bearer(f.Token("RS256"))).result_int() == 200;
    if (!served) std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_TRUE(served) << "keys fetched once the provider answers";
  // Down later: the set is trusted until cache_duration (3 s) after its fetch, never longer.
  up = false;
  EXPECT_EQ(Get(gw.port(), "/remote", Bearer(f.Token("RS256"))).result_int(), 200u);
  std::this_thread::sleep_for(milliseconds(3500));
  EXPECT_EQ(Get(gw.port(), "/remote", Bearer(f.Token("RS256"))).result_int(), 401u);
  EXPECT_TRUE(gw.LogHas("cannot fetch the JWK Set")) << gw.log();
}

// An https:// jwk_url: the provider's certificate is verified (jwk_local_ca adds the test CA to
// the system pool) and, with jwk_fingerprints, pinned by its public key.
TEST(AuthValidatorTest, HttpsJwkUrlIsVerifiedAndPinned) {
  const Fixtures& f = Keys();
  const std::string tls = f.dir + "/tls";
  CommandResult certs =
      RunCommand({"/usr/bin/python3", Runfile("tests/integration/tls_fixtures.py"), tls});
  ASSERT_EQ(certs.exit_code, 0) << certs.err;
  ServerProcess provider("tests/integration/tls_backend.py",
                         {tls + "/server.pem", tls + "/server.key", "--file", f.dir + "/jwks.json"},
                         "listening on ([0-9]+)");
  // KrakenD's pin: base64url (padded) SHA-256 of the DER SubjectPublicKeyInfo, here by openssl.
  CommandResult pin = RunCommand(
      {"sh", "-c",
       "openssl x509 -in " + tls +
           "/server.pem -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 "
           "-binary | base64 | tr '+/' '-_'"});
  ASSERT_EQ(pin.exit_code, 0) << pin.err;
  const std::string good_pin = pin.out.substr(0, pin.out.find('\n'));
  ASSERT_EQ(good_pin.size(), 44u) << good_pin;
  TestBackend backend = EchoBackend();
  const std::string url = "https://localhost:" + std::to_string(provider.port()) + "/jwks";
  const std::string ca = R"(, "jwk_local_ca": ")" + tls + R"(/ca.pem")";
  std::string wrong_pin = good_pin;
  wrong_pin[3] = wrong_pin[3] == 'A' ? 'B' : 'A';
  SluiceProcess gw(Service({
      Endpoint("/verified", R"("alg": "RS256", "jwk_url": ")" + url + R"(")" + ca, backend.url()),
      Endpoint("/pinned",
               R"("alg": "RS256", "jwk_url": ")" + url + R"(", "jwk_fingerprints": [")" + good_pin +
                   R"("])" + ca,
               backend.url()),
      Endpoint("/wrong-pin",
               R"("alg": "RS256", "jwk_url": ")" + url + R"(", "jwk_fingerprints": [")" +
                   wrong_pin + R"("])" + ca,
               backend.url()),
      Endpoint("/untrusted", R"("alg": "RS256", "jwk_url": ")" + url + R"(?untrusted")",
               backend.url()),
  }));
  const auto status = [&](const std::string& path) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    unsigned code = 0;
    do {  // the first fetch runs in the background at start
      code = Get(gw.port(), path, Bearer(f.Token("RS256"))).result_int();
      if (code == 200) break;
      std::this_thread::sleep_for(milliseconds(100));
    } while (std::chrono::steady_clock::now() < until);
    return code;
  };
  EXPECT_EQ(status("/verified"), 200u) << gw.log();
  EXPECT_EQ(status("/pinned"), 200u) << gw.log();
  EXPECT_EQ(status("/wrong-pin"), 401u);
  EXPECT_EQ(status("/untrusted"), 401u);
  EXPECT_TRUE(gw.LogHas("no certificate of the provider's chain matches jwk_fingerprints"))
      << gw.log();
  EXPECT_TRUE(gw.LogHas("unable to get local issuer certificate")) << gw.log();
  EXPECT_EQ(backend.request_count(), 2u);
}

// Verified tokens are remembered by their bytes; a remembered one still expires on time.
TEST(AuthValidatorTest, ARememberedTokenStillExpires) {
  const Fixtures& f = Keys();
  TestBackend backend = EchoBackend();
  SluiceProcess gw(Service({Endpoint("/rs",
                                     R"("alg": "RS256", "jwk_local_path": ")" + f.dir +
                                         R"(/jwks.json", "disable_jwk_security": true)",
                                     backend.url())}));
  CommandResult made = RunCommand({"/usr/bin/python3", Runfile("tests/integration/jwt_fixtures.py"),
                                   f.dir, "--expiring-in", "2"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string token = made.out.substr(0, made.out.find('\n'));
  HttpClient client(gw.port());  // one connection: one worker, one cache
  auto status = [&] {
    Request req(boost::beast::http::verb::get, "/rs", 11);
    req.set("Authorization", "Bearer " + token);
    return client.Send(std::move(req)).result_int();
  };
  for (int i = 0; i < 5; ++i) EXPECT_EQ(status(), 200u);
  std::this_thread::sleep_for(milliseconds(3500));  // exp + leeway (1 s) has passed
  EXPECT_EQ(status(), 401u);
  EXPECT_EQ(backend.request_count(), 5u);
}

// auth/signer: the listed object fields of the answer become JWTs that PyJWT verifies with the
// public keys; other fields are untouched.
TEST(AuthSignerTest, SignedFieldsVerifyWithAnIndependentLibrary) {
  const Fixtures& f = Keys();
  TestBackend backend([](const Request&) {
    return TestBackend::Json(R"({"token": {"sub": "alice", "n": 1}, "keep": "x", "list": [1]})");
  });
  auto signer = [&](const std::string& path, const std::string& alg, const std::string& kid,
                    const std::string& extra = "") {
    return R"({"endpoint": ")" + path + R"(", "extra_config": {"auth/signer": {"alg": ")" + alg +
           R"(", "kid": ")" + kid + R"(", "keys_to_sign": ["token", "keep", "missing"],
           "disable_jwk_security": true, "jwk_local_path": ")" +
           f.dir + R"(/private.json")" + extra + R"(}}, "backend": [{"host": [")" + backend.url() +
           R"("], "url_pattern": "/t"}]})";
  };
  SluiceProcess gw(Service({signer("/rs", "RS256", "rsa"), signer("/ps", "PS384", "rsa"),
                            signer("/es", "ES256", "ec256"), signer("/ed", "EdDSA", "ed"),
                            signer("/hs", "HS512", "hs"),
                            signer("/full", "RS256", "rsa", R"(, "full": true)")}));
  auto verify = [&](const std::string& alg, const std::string& token) {
    CommandResult r = RunCommand({"/usr/bin/python3", Runfile("tests/integration/jwt_fixtures.py"),
                                  f.dir, "--verify", alg, token});
    EXPECT_EQ(r.exit_code, 0) << alg << ": " << r.err;
    return nlohmann::json::parse(r.out, nullptr, false);
  };
  for (const auto& [path, alg] :
       std::vector<std::pair<std::string, std::string>>{{"/rs", "RS256"},
                                                        {"/ps", "PS384"},
                                                        {"/es", "ES256"},
                                                        {"/ed", "EdDSA"},
                                                        {"/hs", "HS512"}}) {
    Response r = Get(gw.port(), path);
    ASSERT_EQ(r.result_int(), 200u) << path << " " << r.body();
    nlohmann::json body = nlohmann::json::parse(r.body());
    ASSERT_TRUE(body["token"].is_string()) << r.body();
    EXPECT_EQ(body["keep"], "x") << "a string is not an object: left as it is";
    EXPECT_EQ(body["list"], nlohmann::json::array({1}));
    EXPECT_FALSE(body.contains("missing"));
    EXPECT_EQ(verify(alg, body["token"]), nlohmann::json({{"sub", "alice"}, {"n", 1}})) << path;
  }
  // The JWS JSON serialization: its parts make the compact form.
  Response full = Get(gw.port(), "/full");
  ASSERT_EQ(full.result_int(), 200u);
  nlohmann::json jws =
      nlohmann::json::parse(nlohmann::json::parse(full.body())["token"].get<std::string>());
  const std::string compact = jws["protected"].get<std::string>() + "." +
                              jws["payload"].get<std::string>() + "." +
                              jws["signature"].get<std::string>();
  EXPECT_EQ(verify("RS256", compact), nlohmann::json({{"sub", "alice"}, {"n", 1}}));

  // check: a kid the set lacks, a public key, an unknown alg.
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/signer.json";
  for (const auto& [config, error] : std::vector<std::pair<std::string, std::string>>{
           {signer("/x", "RS256", "nope"), "\"nope\" is not in"},
           {signer("/x", "ES256", "rsa"), "cannot sign ES256"},
           {signer("/x", "none", "rsa"), "unknown algorithm"}}) {
    std::ofstream(path) << Service({config});
    CommandResult r = RunSluice({"check", "-c", path});
    EXPECT_NE(r.exit_code, 0) << config;
    EXPECT_NE(r.err.find(error), std::string::npos) << r.err;
  }
  std::ofstream(path) << Service({R"({"endpoint": "/x", "extra_config": {"auth/signer": {
      "alg": "RS256", "kid": "rsa", "keys_to_sign": ["a"], "disable_jwk_security": true,
      "jwk_local_path": ")" + f.dir +
                                  R"(/jwks.json"}}, "backend": [{"host": ["http://127.0.0.1:1"],
      "url_pattern": "/t"}]})"});
  CommandResult r = RunSluice({"check", "-c", path});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("private"), std::string::npos) << "public keys cannot sign: " << r.err;
}

// key_identify_strategy: tokens naming the key by its certificate's thumbprint.
TEST(AuthValidatorTest, KeysNamedByCertificateThumbprint) {
  const Fixtures& f = Keys();
  TestBackend backend = EchoBackend();
  const std::string keys = R"("alg": "RS256", "jwk_local_path": ")" + f.dir +
                           R"(/jwks.json", "disable_jwk_security": true)";
  SluiceProcess gw(Service(
      {Endpoint("/kid", keys, backend.url()),
       Endpoint("/x5t", keys + R"(, "key_identify_strategy": "x5t")", backend.url()),
       Endpoint("/s256", keys + R"(, "key_identify_strategy": "x5t#S256")", backend.url())}));
  EXPECT_EQ(Get(gw.port(), "/x5t", Bearer(f.Token("x5t"))).result_int(), 200u);
  EXPECT_EQ(Get(gw.port(), "/s256", Bearer(f.Token("x5t_s256"))).result_int(), 200u);
  EXPECT_EQ(Get(gw.port(), "/kid", Bearer(f.Token("x5t"))).result_int(), 401u)
      << "by kid, the thumbprint is not looked at";
  EXPECT_EQ(Get(gw.port(), "/x5t", Bearer(f.Token("x5t_s256"))).result_int(), 401u)
      << "the SHA-256 thumbprint is not the SHA-1 one";
  EXPECT_EQ(Get(gw.port(), "/x5t", Bearer(f.Token("RS256"))).result_int(), 200u)
      << "no thumbprint in the token: falls back to kid, as KrakenD";
  EXPECT_EQ(backend.request_count(), 3u);
}

TEST(AuthValidatorTest, CheckRefusesWhatSluiceCannotHonour) {
  const Fixtures& f = Keys();
  struct Case {
    std::string validator;
    std::string error;
  };
  const std::string local =
      R"("jwk_local_path": ")" + f.dir + R"(/jwks.json", "disable_jwk_security": true)";
  const std::vector<Case> cases = {
      {local, "alg: is required"},
      {R"("alg": "none", )" + local, "unknown algorithm \"none\""},
      {R"("alg": "RS256", "jwk_url": "https://idp.example/jwks", "jwk_local_ca": "/nonexistent/ca.pem")",
       "jwk_local_ca: cannot read \"/nonexistent/ca.pem\""},
      {R"("alg": "RS256", "jwk_url": "http://idp.example/jwks", "jwk_fingerprints": ["x"], "disable_jwk_security": true)",
       "certificate pins need an https:// jwk_url"},
      {R"("alg": "RS256", "jwk_local_path": "/nonexistent/jwks.json")", "cannot read file"},
      {R"("alg": "RS256", "key_identify_strategy": "thumb", )" + local,
       "use kid, x5t, x5t#S256 or kid_x5t"},
      {R"("alg": "RS256", "cypher_key": "abc", )" + local, "encrypted JWK files"},
      {R"("alg": "RS256")", "needs jwk_url or jwk_local_path"},
  };
  for (const Case& c : cases) {
    const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/check.json";
    std::ofstream(path) << Service({Endpoint("/x", c.validator, "http://127.0.0.1:1")});
    CommandResult r = RunSluice({"check", "-c", path});
    EXPECT_NE(r.exit_code, 0) << c.validator;
    EXPECT_NE(r.err.find("auth/validator"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.error), std::string::npos) << c.validator << "\n" << r.err;
  }
  // {JWT.claim} without a validator: there is no token to take it from.
  {
    const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/nojwt.json";
    std::ofstream(path) << R"({"version": 3, "endpoints": [{"endpoint": "/x", "backend": [
        {"host": ["http://127.0.0.1:1"], "url_pattern": "/u/{JWT.sub}"}]}]})";
    CommandResult r = RunSluice({"check", "-c", path});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("{JWT.sub} needs auth/validator on the endpoint"), std::string::npos)
        << r.err;
  }
  // An insecure source loads, with a warning that the endpoint refuses everything.
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/warn.json";
  std::ofstream(path) << Service({Endpoint(
      "/x", R"("alg": "RS256", "jwk_url": "http://127.0.0.1:1/jwks")", "http://127.0.0.1:1")});
  CommandResult r = RunSluice({"check", "-c", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("401 to every request"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sluice::testing
