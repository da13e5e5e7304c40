#include "admin/token.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::admin {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::map<std::string, std::string>& Vars() {
  static auto* vars = new std::map<std::string, std::string>();
  return *vars;
}
std::optional<std::string> FakeEnv(const char* name) {
  auto it = Vars().find(name);
  if (it == Vars().end()) return std::nullopt;
  return it->second;
}

std::string WriteTemp(const std::string& name, const std::string& content) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

class ResolveTokenTest : public ::testing::Test {
 protected:
  void SetUp() override { Vars().clear(); }
};

TEST_F(ResolveTokenTest, NoneConfiguredMeansNoToken) {
  absl::StatusOr<std::optional<std::string>> t = ResolveToken(config::AdminConfig{}, &FakeEnv);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, std::nullopt);
}

TEST_F(ResolveTokenTest, FromEnvironmentTrimmed) {
  config::AdminConfig c;
  c.token_env = "ADMIN_TOKEN";
  Vars()["ADMIN_TOKEN"] = "  s3cret\n";
  absl::StatusOr<std::optional<std::string>> t = ResolveToken(c, &FakeEnv);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, "s3cret");
}

TEST_F(ResolveTokenTest, UnsetOrEmptyVariableIsAnErrorNamingIt) {
  config::AdminConfig c;
  c.token_env = "ADMIN_TOKEN";
  absl::StatusOr<std::optional<std::string>> t = ResolveToken(c, &FakeEnv);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("ADMIN_TOKEN"));
  Vars()["ADMIN_TOKEN"] = " ";
  EXPECT_FALSE(ResolveToken(c, &FakeEnv).ok());
}

TEST_F(ResolveTokenTest, FromFileTrimmed) {
  config::AdminConfig c;
  c.token_file = WriteTemp("token-ok", "from-file\n");
  absl::StatusOr<std::optional<std::string>> t = ResolveToken(c, &FakeEnv);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, "from-file");
}

TEST_F(ResolveTokenTest, VariableWinsOverFileAndFileIsTheFallback) {
  config::AdminConfig c;
  c.token_env = "ADMIN_TOKEN";
  c.token_file = WriteTemp("token-fallback", "from-file");
  EXPECT_EQ(*ResolveToken(c, &FakeEnv), "from-file");
  Vars()["ADMIN_TOKEN"] = "from-env";
  EXPECT_EQ(*ResolveToken(c, &FakeEnv), "from-env");
}

TEST_F(ResolveTokenTest, BadFilesAreErrorsThatDoNotQuoteTheContent) {
  config::AdminConfig c;
  c.token_file = "/nonexistent/sluice/token";
  absl::StatusOr<std::optional<std::string>> t = ResolveToken(c, &FakeEnv);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("/nonexistent/sluice/token"));

  c.token_file = WriteTemp("token-empty", "\n\n");
  t = ResolveToken(c, &FakeEnv);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("is empty"));

  c.token_file = WriteTemp("token-huge", std::string(5000, 'x'));
  t = ResolveToken(c, &FakeEnv);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("larger than"));
  EXPECT_THAT(std::string(t.status().message()), Not(HasSubstr("xxxx")));
}

TEST(TokenPolicyTest, NoTokenAllowsEverything) {
  TokenPolicy p;
  EXPECT_FALSE(p.Required(CallClass::kObserve));
  EXPECT_FALSE(p.Required(CallClass::kPrivileged));
  EXPECT_TRUE(p.Check(CallClass::kPrivileged, std::nullopt).ok());
  EXPECT_TRUE(p.Check(CallClass::kPrivileged, "Bearer anything").ok());
}

TEST(TokenPolicyTest, PrivilegedCallsNeedTheToken) {
  TokenPolicy p("s3cret", /*require_for_all=*/false);
  EXPECT_FALSE(p.Required(CallClass::kObserve));
  EXPECT_TRUE(p.Required(CallClass::kPrivileged));
  EXPECT_TRUE(p.Check(CallClass::kObserve, std::nullopt).ok());
  EXPECT_TRUE(p.Check(CallClass::kPrivileged, "Bearer s3cret").ok());
  EXPECT_TRUE(p.Check(CallClass::kPrivileged, "bearer s3cret").ok());  // scheme: any case
  EXPECT_TRUE(p.Check(CallClass::kPrivileged, "BEARER   s3cret ").ok());
  EXPECT_EQ(p.Check(CallClass::kPrivileged, std::nullopt).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(TokenPolicyTest, WrongOrMalformedIsUnauthenticatedWithoutEchoingTokens) {
  TokenPolicy p("s3cret", false);
  for (const char* bad :
       {"Bearer s3cre", "Bearer s3cret2", "Bearer S3CRET", "s3cret", "Basic s3cret", "Bearer",
        "Bearer ", "", "Bearers3cret", "Token s3cret"}) {
    absl::Status st = p.Check(CallClass::kPrivileged, bad);
    EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated) << bad;
    EXPECT_THAT(std::string(st.message()), Not(HasSubstr("s3cret"))) << bad;
    EXPECT_THAT(std::string(st.message()), Not(HasSubstr("S3CRET"))) << bad;
  }
}

TEST(TokenPolicyTest, RequireForAllCoversObserveCalls) {
  TokenPolicy p("s3cret", /*require_for_all=*/true);
  EXPECT_TRUE(p.Required(CallClass::kObserve));
  EXPECT_EQ(p.Check(CallClass::kObserve, std::nullopt).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(p.Check(CallClass::kObserve, "Bearer s3cret").ok());
}

}  // namespace
}  // namespace sluice::admin
