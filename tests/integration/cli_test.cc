// The `sluice` command line as an operator meets it: exit codes, what goes to stdout and stderr,
// and that every configuration error names its file and JSON path. Runs the real binary.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr int kExitOk = 0;
constexpr int kExitConfigError = 1;
constexpr int kExitUsage = 2;

std::string Config(const std::string& name) { return TestData("config/" + name); }

std::string Dump(const CommandResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

bool IsBadFile(const std::string& name) {
  return name.rfind("bad_", 0) == 0 || name == "syntax_error.json";
}

// Every *.json in tests/testdata/config, read from the runfiles at run time so a new fixture is
// covered without touching this test.
std::vector<std::string> ConfigFiles() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(Config(""))) {
    std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".json") names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The JSON path of the error in each single-error file (see tests/gateway/config/config_test.cc);
// "" for a syntax error, which has no path.
const std::map<std::string, std::string>& ExpectedErrorPaths() {
  static const auto* paths = new std::map<std::string, std::string>{
      {"bad_concurrent.json", "endpoints[0].concurrent_calls"},
      {"bad_duplicate.json", "endpoints[2]"},
      {"bad_duration.json", "endpoints[0].timeout"},
      {"bad_empty_backend.json", "endpoints[0].backend"},
      {"bad_host.json", "host[1]"},
      {"bad_log_level.json", "extra_config.telemetry/logging.level"},
      {"bad_missing_backend.json", "endpoints[0].backend"},
      {"bad_no_host.json", "endpoints[0].backend[1]"},
      {"bad_noop.json", "endpoints[0]"},
      {"bad_param_segment.json", "endpoints[0].endpoint"},
      {"bad_port.json", "port"},
      {"bad_reserved.json", "endpoints[0].endpoint"},
      {"bad_sequential.json", "endpoints[0].backend[1].url_pattern"},
      {"bad_type.json", "port"},
      {"bad_url_param.json", "endpoints[0].backend[2].url_pattern"},
      {"bad_version.json", "version"},
      {"syntax_error.json", ""},
  };
  return *paths;
}

// Checks the shape of a failed check/run: exit 1, nothing on stdout that claims success, and on
// stderr one "FILE: PATH: MESSAGE" line per error followed by "FILE: N error(s)".
void ExpectConfigErrors(const CommandResult& r, const std::string& file,
                        const std::vector<std::string>& json_paths) {
  EXPECT_EQ(r.exit_code, kExitConfigError) << Dump(r);
  EXPECT_THAT(r.out, Not(HasSubstr("Syntax OK"))) << Dump(r);
  std::vector<std::string> lines = Lines(r.err);
  ASSERT_GE(lines.size(), 2u) << Dump(r);
  for (const std::string& line : lines) {
    EXPECT_THAT(line, StartsWith(file + ": ")) << Dump(r);
  }
  EXPECT_EQ(lines.back(), file + ": " + std::to_string(lines.size() - 1) + " error(s)") << Dump(r);
  for (const std::string& path : json_paths) {
    const std::string prefix =
        path.empty() ? file + ": invalid JSON at line " : file + ": " + path + ": ";
    bool found = false;
    for (size_t i = 0; i + 1 < lines.size(); ++i) found = found || lines[i].rfind(prefix, 0) == 0;
    EXPECT_TRUE(found) << "no line starting with \"" << prefix << "\"\n" << Dump(r);
  }
}

// ----- check: bad files -------------------------------------------------------------------------

TEST(CliCheckTest, EveryBadFileExitsOneNamingTheFileAndEachErrorPath) {
  std::vector<std::string> seen;
  for (const std::string& name : ConfigFiles()) {
    if (!IsBadFile(name)) continue;
    SCOPED_TRACE(name);
    seen.push_back(name);
    const std::string file = Config(name);
    std::vector<std::string> paths;
    auto it = ExpectedErrorPaths().find(name);
    if (it != ExpectedErrorPaths().end()) paths.push_back(it->second);
    ExpectConfigErrors(RunSluice({"check", "-c", file}), file, paths);
  }
  // The directory listing really found the fixtures (a vacuous loop would pass anything).
  for (const auto& [name, path] : ExpectedErrorPaths()) {
    EXPECT_NE(std::find(seen.begin(), seen.end(), name), seen.end()) << name << " not found";
  }
}

TEST(CliCheckTest, AFileWithSeveralErrorsReportsEveryOne) {
  const std::string file = Config("bad_many.json");
  CommandResult r = RunSluice({"check", "-c", file});
  const std::vector<std::string> paths = {
      "port",
      "timeout",
      "host[0]",
      "endpoints[1].method",
      "endpoints[1].concurrent_calls",
      "endpoints[1].backend[0].url_pattern",
      "endpoints[2].backend",
  };
  ExpectConfigErrors(r, file, paths);
  EXPECT_THAT(r.err, HasSubstr(file + ": " + std::to_string(paths.size()) + " error(s)\n"));
  EXPECT_THAT(r.err, HasSubstr(": endpoints[1].method: unsupported method \"FETCH\""));
  EXPECT_THAT(r.err, HasSubstr(": timeout: malformed duration \"2x\""));
}

TEST(CliCheckTest, SyntaxErrorNamesLineAndColumn) {
  const std::string file = Config("syntax_error.json");
  CommandResult r = RunSluice({"check", "-c", file});
  EXPECT_EQ(r.exit_code, kExitConfigError) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr(file + ": invalid JSON at line 4, column 31")) << Dump(r);
}

TEST(CliCheckTest, AMissingFileExitsOneNamingThePath) {
  const std::string file = Config("does_not_exist.json");
  CommandResult r = RunSluice({"check", "-c", file});
  EXPECT_EQ(r.exit_code, kExitConfigError) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr(file + ": cannot read file")) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr("No such file")) << Dump(r);
  EXPECT_EQ(r.out, "") << Dump(r);
}

TEST(CliCheckTest, OutOfRangeNumbersAreRefusedByCheck) {
  // max_header_bytes used to be truncated to 32 bits: 4294967297 passed check, then every
  // request got 431.
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string file = std::string(dir ? dir : "/tmp") + "/ranges.json";
  std::ofstream(file) << R"({"version": 3, "max_header_bytes": 4294967297,
    "extra_config": {"sluice/http": {"max_body_bytes": 1099511627776}},
    "endpoints": [{"endpoint": "/a", "concurrent_calls": 1000000,
                   "backend": [{"host": ["127.0.0.1:1"], "url_pattern": "/a"}]}]})";
  for (const char* command : {"check", "run"}) {
    CommandResult r = RunSluice({command, "-c", file});
    ExpectConfigErrors(r, file,
                       {"max_header_bytes", "extra_config.sluice/http.max_body_bytes",
                        "endpoints[0].concurrent_calls"});
    EXPECT_THAT(r.err, HasSubstr("max_header_bytes: must be at most 67108864 (64 MiB), got "
                                 "4294967297"));
    EXPECT_THAT(r.err, HasSubstr("concurrent_calls: must be at most 64, got 1000000"));
  }
}

TEST(CliCheckTest, ConfigFilesMustBeRegularFilesUnderTheSizeLimit) {
  // A 300 MB file was read into 1.5 GB and passed; a device gave a misleading error.
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string big = std::string(dir ? dir : "/tmp") + "/big.json";
  {
    std::ofstream out(big);
    out << R"({"version": 3, "@comment": ")" << std::string(17 << 20, 'x')
        << R"(", "endpoints": []})";
  }
  CommandResult r = RunSluice({"check", "-c", big});
  EXPECT_EQ(r.exit_code, kExitConfigError) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr(big + ": file is ")) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr("the limit is 16777216 (16 MiB)")) << Dump(r);
  for (const std::string& device : {std::string("/dev/zero"), std::string("/dev/null")}) {
    r = RunSluice({"check", "-c", device});
    EXPECT_EQ(r.exit_code, kExitConfigError) << Dump(r);
    EXPECT_THAT(r.err, HasSubstr(device + ": not a regular file")) << Dump(r);
  }
  r = RunSluice({"check", "-c", dir ? dir : "/tmp"});
  EXPECT_EQ(r.exit_code, kExitConfigError) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr("is a directory")) << Dump(r);
}

// ----- check: good files ------------------------------------------------------------------------

TEST(CliCheckTest, EveryGoodFileExitsZeroWithSyntaxOk) {
  int good = 0;
  for (const std::string& name : ConfigFiles()) {
    if (IsBadFile(name)) continue;
    SCOPED_TRACE(name);
    ++good;
    const std::string file = Config(name);
    // The good files use KrakenD's protective components; those Sluice lacks need the flag.
    CommandResult r = RunSluice({"check", "--allow-unprotected", "-c", file});
    EXPECT_EQ(r.exit_code, kExitOk) << Dump(r);
    EXPECT_THAT(r.out, StartsWith("Syntax OK! " + file + " (")) << Dump(r);
    // Nothing on stderr but warnings (KrakenD components Sluice does not implement, an
    // unbounded http-cache bounded).
    std::istringstream err(r.err);
    for (std::string line; std::getline(err, line);) {
      EXPECT_NE(line.find(": warning: "), std::string::npos) << line;
    }
  }
  EXPECT_GE(good, 4);  // good_v2, good_v3, comments, lint_unknown at least
}

TEST(CliCheckTest, SyntaxOkLineCountsEndpointsAndGivesTheSha256) {
  const std::string file = Config("good_v3.json");
  CommandResult r = RunSluice({"check", "--allow-unprotected", "-c", file});
  ASSERT_EQ(r.exit_code, kExitOk) << Dump(r);
  EXPECT_TRUE(std::regex_match(
      r.out, std::regex("Syntax OK! " +
                        std::regex_replace(file, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                        R"( \(3 endpoints, sha256 [0-9a-f]{64}\)\n)")))
      << Dump(r);
}

// ----- check --lint -----------------------------------------------------------------------------

TEST(CliCheckTest, LintListsUnknownKeysAndExitsOne) {
  const std::string file = Config("lint_unknown.json");
  for (const char* flag : {"--lint", "-l"}) {
    SCOPED_TRACE(flag);
    CommandResult r = RunSluice({"check", flag, "-c", file});
    ExpectConfigErrors(
        r, file,
        {"prot", "endpoints[0].headers_to_pass", "endpoints[0].backend[1].urlpattern",
         "endpoints[0].backend[1].whitelist", "endpoints[0].backend[1].frobnicate"});
    EXPECT_THAT(r.err, HasSubstr(": prot: unknown key (did you mean \"port\"?)")) << Dump(r);
    EXPECT_THAT(r.err, HasSubstr(file + ": 5 error(s)\n")) << Dump(r);
  }
}

TEST(CliCheckTest, LintAcceptsCommentKeys) {
  const std::string file = Config("comments.json");
  CommandResult r = RunSluice({"check", "--lint", "-c", file});
  EXPECT_EQ(r.exit_code, kExitOk) << Dump(r);
  EXPECT_THAT(r.out, StartsWith("Syntax OK! ")) << Dump(r);
  EXPECT_EQ(r.err, "") << Dump(r);
}

// ----- check -d ---------------------------------------------------------------------------------

TEST(CliCheckTest, DebugPrintsEndpointsMethodsTimeoutsAndHosts) {
  const std::string file = Config("good_v3.json");
  for (const char* flag : {"-d", "--debug"}) {
    SCOPED_TRACE(flag);
    CommandResult r = RunSluice({"check", flag, "--allow-unprotected", "-c", file});
    ASSERT_EQ(r.exit_code, kExitOk) << Dump(r);
    EXPECT_THAT(r.out, HasSubstr("name: Sluice demo\n"));
    EXPECT_THAT(r.out, HasSubstr("port: 9090  listen_ip: 127.0.0.1\n"));
    EXPECT_THAT(r.out, HasSubstr("timeout: 3s"));
    EXPECT_THAT(r.out, HasSubstr("host: http://127.0.0.1:8080\n"));
    EXPECT_THAT(r.out, HasSubstr("endpoints: 3\n"));
    EXPECT_THAT(r.out, HasSubstr("\nGET /users/{id}  timeout=1.5s"));
    EXPECT_THAT(r.out, HasSubstr("\nPUT /raw/{path}  timeout=3s"));
    EXPECT_THAT(r.out, HasSubstr("\nGET /search  timeout=3s"));
    EXPECT_THAT(r.out,
                HasSubstr("  -> GET http://127.0.0.1:8080/api/users/{id} (encoding json)\n"));
    EXPECT_THAT(r.out, HasSubstr("  -> POST https://orders.example.com:443/orders?user={id}"));
    EXPECT_THAT(r.out, HasSubstr("  -> PUT http://localhost:9002/raw/{path}"));
    // The verdict still comes last.
    std::vector<std::string> lines = Lines(r.out);
    ASSERT_FALSE(lines.empty());
    EXPECT_THAT(lines.back(), StartsWith("Syntax OK! "));
  }
}

// ----- environment overrides --------------------------------------------------------------------

TEST(CliCheckTest, EnvironmentOverridesShowInDebugOutput) {
  const std::string file = Config("good_v3.json");
  CommandResult r = RunSluice({"check", "-d", "--allow-unprotected", "-c", file},
                              {"SLUICE_NAME=from-env", "SLUICE_PORT=9555", "SLUICE_TIMEOUT=750ms"});
  ASSERT_EQ(r.exit_code, kExitOk) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("name: from-env\n")) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("port: 9555 ")) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("timeout: 750ms ")) << Dump(r);
  // Endpoints without their own timeout inherit the override; /users/{id} keeps its 1.5s.
  EXPECT_THAT(r.out, HasSubstr("\nGET /search  timeout=750ms")) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("\nGET /users/{id}  timeout=1.5s")) << Dump(r);
  EXPECT_THAT(r.out, Not(HasSubstr("Sluice demo"))) << Dump(r);
}

TEST(CliCheckTest, AnInvalidEnvironmentOverrideExitsOneNamingTheVariable) {
  const std::string file = Config("good_v3.json");
  for (const char* env : {"SLUICE_PORT=abc", "SLUICE_PORT=0", "SLUICE_PORT=65536"}) {
    SCOPED_TRACE(env);
    CommandResult r = RunSluice({"check", "-c", file}, {env});
    EXPECT_EQ(r.exit_code, kExitConfigError) << Dump(r);
    EXPECT_THAT(r.err, HasSubstr(file + ": SLUICE_PORT: ")) << Dump(r);
    EXPECT_THAT(r.out, Not(HasSubstr("Syntax OK"))) << Dump(r);
  }
  CommandResult r = RunSluice({"check", "-c", file}, {"SLUICE_TIMEOUT=soon"});
  EXPECT_EQ(r.exit_code, kExitConfigError) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr("SLUICE_TIMEOUT: malformed duration \"soon\"")) << Dump(r);
}

// ----- version, help, usage ---------------------------------------------------------------------

TEST(CliTest, VersionPrintsTheVersionAndARevision) {
  CommandResult r = RunSluice({"version"});
  EXPECT_EQ(r.exit_code, kExitOk) << Dump(r);
  EXPECT_TRUE(
      std::regex_match(r.out, std::regex(R"(Sluice Version \d+\.\d+\.\d+ \(revision \S+\)\n)")))
      << Dump(r);
  EXPECT_EQ(r.err, "") << Dump(r);
}

TEST(CliTest, HelpOnEachCommandExitsZero) {
  struct Case {
    std::vector<std::string> args;
    const char* first_line;
  };
  const Case cases[] = {
      {{"--help"}, "Sluice: a KrakenD-compatible API gateway."},
      {{"-h"}, "Sluice: a KrakenD-compatible API gateway."},
      {{"help"}, "Sluice: a KrakenD-compatible API gateway."},
      {{"run", "--help"}, "Usage: sluice run -c FILE"},
      {{"run", "-h"}, "Usage: sluice run -c FILE"},
      {{"check", "--help"}, "Usage: sluice check -c FILE"},
      {{"check", "-h"}, "Usage: sluice check -c FILE"},
      {{"version", "--help"}, "Usage: sluice version"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args[0] + " " + (c.args.size() > 1 ? c.args[1] : ""));
    CommandResult r = RunSluice(c.args);
    EXPECT_EQ(r.exit_code, kExitOk) << Dump(r);
    EXPECT_THAT(r.out, StartsWith(c.first_line)) << Dump(r);
    EXPECT_EQ(r.err, "") << Dump(r);
  }
}

TEST(CliTest, UsageErrorsExitTwoAndPrintUsage) {
  const std::string good = Config("good_v3.json");
  struct Case {
    std::vector<std::string> args;
    const char* error;
    const char* usage;
  };
  const Case cases[] = {
      {{}, "sluice: missing command", "Usage:\n  sluice run -c FILE"},
      {{"frobnicate"}, "sluice: unknown command \"frobnicate\"", "Usage:\n  sluice run -c FILE"},
      {{"check", "-c", good, "--frob"},
       "sluice: unknown argument \"--frob\"",
       "Usage: sluice check -c FILE"},
      {{"check", "-c", good, "-p", "80"},
       "sluice: unknown argument \"-p\"",
       "Usage: sluice check -c FILE"},
      {{"run", "-c", good, "--lint"},
       "sluice: unknown argument \"--lint\"",
       "Usage: sluice run -c FILE"},
      {{"version", "--frob"}, "sluice: unknown argument \"--frob\"", "Usage: sluice version"},
      {{"run"}, "sluice: -c FILE is required", "Usage: sluice run -c FILE"},
      {{"check"}, "sluice: -c FILE is required", "Usage: sluice check -c FILE"},
      {{"check", "-c"}, "sluice: flag -c needs a value", "Usage: sluice check -c FILE"},
      {{"run", "-c", good, "-p", "abc"},
       "sluice: invalid port \"abc\"",
       "Usage: sluice run -c FILE"},
      {{"run", "-c", good, "-p", "65536"},
       "sluice: invalid port \"65536\"",
       "Usage: sluice run -c FILE"},
      {{"run", "-c", good, "-p", "-1"}, "sluice: invalid port \"-1\"", "Usage: sluice run -c FILE"},
  };
  for (const Case& c : cases) {
    std::string trace;
    for (const std::string& a : c.args) trace += a + " ";
    SCOPED_TRACE("sluice " + trace);
    CommandResult r = RunSluice(c.args);
    EXPECT_EQ(r.exit_code, kExitUsage) << Dump(r);
    EXPECT_THAT(r.err, StartsWith(c.error)) << Dump(r);
    EXPECT_THAT(r.err, HasSubstr(c.usage)) << Dump(r);
    EXPECT_EQ(r.out, "") << Dump(r);
  }
}

// ----- run --------------------------------------------------------------------------------------

TEST(CliRunTest, ABadConfigExitsOneWithEveryError) {
  const std::string file = Config("bad_many.json");
  CommandResult r = RunSluice({"run", "-c", file, "-p", "0"});
  ExpectConfigErrors(
      r, file,
      {"port", "timeout", "host[0]", "endpoints[1].method", "endpoints[1].concurrent_calls",
       "endpoints[1].backend[0].url_pattern", "endpoints[2].backend"});
  EXPECT_THAT(r.err, Not(HasSubstr("listening on"))) << Dump(r);
}

TEST(CliRunTest, AMissingConfigExitsOneNamingThePath) {
  const std::string file = Config("does_not_exist.json");
  CommandResult r = RunSluice({"run", "-c", file, "-p", "0"});
  EXPECT_EQ(r.exit_code, kExitConfigError) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr(file + ": cannot read file")) << Dump(r);
}

TEST(CliRunTest, AnInvalidEnvironmentOverrideStopsRun) {
  CommandResult r = RunSluice({"run", "-c", Config("comments.json"), "-p", "0"}, {"SLUICE_PORT=x"});
  EXPECT_EQ(r.exit_code, kExitConfigError) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr("SLUICE_PORT")) << Dump(r);
}

// Nothing fails open: a protection Sluice does not enforce (a KrakenD component that restricts
// traffic, or `tls`) refuses the file, by path, in check and run. --allow-unprotected runs it
// without them, saying so; other unimplemented components only warn.
const char kUnenforcedJson[] = R"({"version": 3, "host": ["127.0.0.1:1"],
    "extra_config": {"security/policies": {}, "telemetry/opentelemetry": {}},
    "endpoints": [{"endpoint": "/a", "extra_config": {
        "auth/api-keys": {"roles": ["admin"]}},
      "backend": [{"url_pattern": "/a", "extra_config": {"validation/cel": [{"check_expr": "true"}]}}]}]})";

std::string UnenforcedFile() {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string file = std::string(dir ? dir : "/tmp") + "/unenforced.json";
  std::ofstream(file) << kUnenforcedJson;
  return file;
}

TEST(CliCheckTest, ProtectionsSluiceDoesNotEnforceRefuseTheFileByPath) {
  const std::string file = UnenforcedFile();
  const std::string refused =
      " would NOT be protected: the file is refused (sluice run "
      "--allow-unprotected runs it anyway, without that protection)\n";
  const std::string expected =
      file +
      ": extra_config.\"security/policies\": not implemented by Sluice, so what it "
      "protects" +
      refused + file +
      ": endpoints[0].extra_config.\"auth/api-keys\": not "
      "implemented by Sluice, so what it protects" +
      refused + file +
      ": endpoints[0].backend[0].extra_config.\"validation/cel\": not implemented by "
      "Sluice, so what it protects" +
      refused;
  for (const char* command : {"check", "run"}) {
    SCOPED_TRACE(command);
    std::vector<std::string> args = {command, "-c", file};
    if (std::string(command) == "run") args.insert(args.end(), {"-p", "0"});
    CommandResult r = RunSluice(args);
    EXPECT_EQ(r.exit_code, kExitConfigError) << Dump(r);
    EXPECT_THAT(r.err, StartsWith(expected)) << Dump(r);
    EXPECT_THAT(r.err, HasSubstr(file + ": 3 error(s)\n")) << Dump(r);
    EXPECT_EQ(r.out, "") << Dump(r);
  }
}

TEST(CliCheckTest, AllowUnprotectedRunsTheFileWithoutThemAndSaysSo) {
  const std::string file = UnenforcedFile();
  CommandResult check = RunSluice({"check", "--allow-unprotected", "-c", file});
  EXPECT_EQ(check.exit_code, kExitOk) << Dump(check);
  const std::string unprotected =
      ": warning: not implemented by Sluice, so it has no effect: what it protects is NOT "
      "protected (--allow-unprotected)\n";
  EXPECT_EQ(check.err,
            file + ": extra_config.\"security/policies\"" + unprotected + file +
                ": extra_config.\"telemetry/opentelemetry\": warning: not implemented by "
                "Sluice; it has no effect\n" +
                file + ": endpoints[0].extra_config.\"auth/api-keys\"" + unprotected + file +
                ": endpoints[0].backend[0].extra_config.\"validation/cel\"" + unprotected);
  SluiceProcess gateway(kUnenforcedJson, {"--allow-unprotected"});
  EXPECT_TRUE(gateway.LogHas("running with --allow-unprotected: 3 protection(s) of "))
      << gateway.log();
  EXPECT_TRUE(
      gateway.LogHas("are NOT enforced: extra_config.\"security/policies\", "
                     "endpoints[0].extra_config.\"auth/api-keys\", "
                     "endpoints[0].backend[0].extra_config.\"validation/cel\""))
      << gateway.log();
}

// TLS is implemented: --allow-unprotected never turns a `tls` Sluice cannot serve into plain HTTP.
TEST(CliCheckTest, ABrokenTlsIsRefusedEvenWithAllowUnprotected) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string file = std::string(dir ? dir : "/tmp") + "/tls_broken.json";
  std::ofstream(file) << R"({"version": 3, "host": ["127.0.0.1:1"],
    "tls": {"public_key": "/nonexistent/cert.pem", "private_key": "/nonexistent/key.pem"},
    "endpoints": [{"endpoint": "/a", "backend": [{"url_pattern": "/a"}]}]})";
  for (const char* command : {"check", "run"}) {
    SCOPED_TRACE(command);
    std::vector<std::string> args = {command, "--allow-unprotected", "-c", file};
    if (std::string(command) == "run") args.insert(args.end(), {"-p", "0"});
    CommandResult r = RunSluice(args);
    EXPECT_EQ(r.exit_code, kExitConfigError) << Dump(r);
    EXPECT_THAT(r.err, HasSubstr(file + ": tls.public_key: cannot read \"/nonexistent/cert.pem\""))
        << Dump(r);
  }
}

TEST(CliCheckTest, TlsDisabledIsNotAProtectionToRefuse) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string file = std::string(dir ? dir : "/tmp") + "/tls_disabled.json";
  std::ofstream(file) << R"({"version": 3, "host": ["127.0.0.1:1"],
    "tls": {"disabled": true, "public_key": "/nonexistent/cert.pem"},
    "endpoints": [{"endpoint": "/a", "backend": [{"url_pattern": "/a"}]}]})";
  CommandResult r = RunSluice({"check", "-c", file});
  EXPECT_EQ(r.exit_code, kExitOk) << Dump(r);
  EXPECT_EQ(r.err, "") << Dump(r);
}

// Workers share the public port through SO_REUSEPORT; a second process must not.
TEST(CliRunTest, ASecondInstanceOnTheSamePortIsRefused) {
  const std::string json = R"({"version": 3, "endpoints": []})";
  SluiceProcess first(json);
  ASSERT_NE(first.port(), 0);
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string file = std::string(dir ? dir : "/tmp") + "/second.json";
  std::ofstream(file) << json;
  CommandResult second =
      RunSluice({"run", "-c", file, "-p", std::to_string(first.port())},
                {"SLUICE_ADMIN_ADDRESS=127.0.0.1:0", "SLUICE_METRICS_ADDRESS=127.0.0.1:0"});
  EXPECT_EQ(second.exit_code, kExitConfigError) << second.err;
  EXPECT_NE(second.err.find(":" + std::to_string(first.port()) +
                            ": Address already in use (another process serves this port)"),
            std::string::npos)
      << second.err;
  EXPECT_EQ(Fetch(first.port(), "GET", "/__health").result_int(), 200u);
}

TEST(CliRunTest, RunStartsWhateverCheckAccepts) {
  // `check` is how operators validate a file before deploying it: a file it accepts must start.
  // {resp0_user} is a sequential-proxy placeholder that the config validator exempts.
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string file = std::string(dir ? dir : "/tmp") + "/sequential.json";
  const std::string json = R"({"version": 3, "host": ["127.0.0.1:1"],
    "extra_config": {"sluice/http": {"workers": 1}},
    "endpoints": [{"endpoint": "/a/{id}", "backend": [
      {"url_pattern": "/a/{id}"}, {"url_pattern": "/b/{resp0_user}"}]}]})";
  std::ofstream(file) << json;
  CommandResult check = RunSluice({"check", "-c", file});
  if (check.exit_code == kExitOk) {
    SluiceProcess gateway(json);
    EXPECT_NE(gateway.port(), 0) << "check accepted the file but run refused it:\n"
                                 << gateway.log();
  } else {
    CommandResult run = RunSluice({"run", "-c", file, "-p", "0"});
    EXPECT_EQ(run.exit_code, kExitConfigError) << Dump(run);
  }
  std::remove(file.c_str());
}

}  // namespace
}  // namespace sluice::testing
