#include "gateway/components/validation/jsonschema/schema.h"

// valijson's exceptions.hpp includes <stdexcept> inside its namespace unless it is already in.
#include <algorithm>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/common/strings.h"
#include "gateway/encoding/json.h"
#include "gateway/http/wire.h"
#include "re2/re2.h"
#include "valijson/adapters/nlohmann_json_adapter.hpp"
#include "valijson/schema.hpp"
#include "valijson/schema_parser.hpp"
#include "valijson/validation_results.hpp"
#include "valijson/validator.hpp"

// `pattern` and `patternProperties` are matched with RE2 (linear time, Go's syntax: what KrakenD's
// validator uses) instead of valijson's std::regex, whose backtracking a hostile body makes
// exponential: jsonschema_fuzz held a worker for over 11 s matching "abc" (found 2026-12-04).
// valijson 1.0 has no regex hook, so the two functions that match are specialised here for the
// one adapter Sluice validates with, before anything instantiates them.
namespace valijson {
namespace {

// The compiled pattern, cached per thread (a schema's patterns are few and fixed at load);
// nullptr if RE2 refuses it (check refuses such a schema first: see PatternError).
const re2::RE2* Compiled(const std::string& pattern) {
  thread_local std::unordered_map<std::string, std::unique_ptr<re2::RE2>> cache;
  auto it = cache.find(pattern);
  if (it == cache.end()) {
    re2::RE2::Options options;
    options.set_log_errors(false);
    it = cache.emplace(pattern, std::make_unique<re2::RE2>(pattern, options)).first;
  }
  return it->second->ok() ? it->second.get() : nullptr;
}

bool Search(const std::string& text, const std::string& pattern) {
  const re2::RE2* re = Compiled(pattern);
  return re != nullptr && re2::RE2::PartialMatch(text, *re);
}

}  // namespace

template <>
bool ValidationVisitor<adapters::NlohmannJsonAdapter>::visit(
    const constraints::PatternConstraint& constraint) {
  if ((m_strictTypes && !m_target.isString()) || !m_target.maybeString()) return true;
  if (Search(m_target.asString(), constraint.getPattern<std::string::allocator_type>())) {
    return true;
  }
  if (m_results) {
    m_results->pushError(m_context, "Failed to match regex specified by 'pattern' constraint.");
  }
  return false;
}

// valijson's own loop (validation_visitor.hpp), with Search in place of std::regex_search.
template <>
template <>
bool ValidationVisitor<adapters::NlohmannJsonAdapter>::ValidatePatternPropertySubschemas::
operator()(const constraints::PropertiesConstraint::String& patternProperty,
           const Subschema* subschema) const {
  const std::string pattern(patternProperty.c_str());
  bool matchFound = false;
  for (const adapters::NlohmannJsonAdapter::ObjectMember m : m_object) {
    if (!Search(m.first, pattern)) continue;
    matchFound = true;
    if (m_propertiesMatched) m_propertiesMatched->insert(m.first);
    std::vector<std::string> newContext = m_context;
    newContext.push_back("[" + m.first + "]");
    ValidationVisitor validator(m.second, newContext, m_strictTypes, m_results, m_regexesCache);
    if (validator.validateSchema(*subschema)) continue;
    if (m_results) {
      m_results->pushError(
          m_context,
          "Failed to validate against schema associated with pattern '" + pattern + "'.");
    }
    if (m_validated) *m_validated = false;
    if (!m_continueOnFailure) return false;
  }
  if (!matchFound && !m_continueIfUnmatched) return false;
  return m_continueOnSuccess;
}

}  // namespace valijson

namespace sluice::components::jsonschema {

namespace {

namespace bhttp = boost::beast::http;

// Keywords of drafts 2019-09 and 2020-12 that valijson 1.0 would skip: each can only reject more,
// so skipping one would let through what the schema's author meant to stop.
constexpr std::string_view kUnsupported[] = {
    "unevaluatedProperties", "unevaluatedItems", "prefixItems",
    "dependentRequired",     "dependentSchemas", "minContains",
    "maxContains",           "$dynamicRef",      "$recursiveRef"};

// Every object key anywhere in `schema` that is in kUnsupported (conservative: a property that
// happens to carry such a name is flagged too); `regex` learns whether pattern, patternProperties
// or format appear; `patterns` collects the regular expressions (pattern values and
// patternProperties keys).
void Scan(const nlohmann::json& schema, std::string* unsupported, bool* regex,
          std::vector<std::string>* patterns) {
  if (schema.is_object()) {
    for (const auto& [key, value] : schema.items()) {
      for (std::string_view k : kUnsupported) {
        if (key == k && unsupported->empty()) *unsupported = key;
      }
      if (key == "pattern" || key == "patternProperties" || key == "format") *regex = true;
      if (key == "pattern" && value.is_string()) patterns->push_back(value.get<std::string>());
      if (key == "patternProperties" && value.is_object()) {
        for (const auto& [p, sub] : value.items()) patterns->push_back(p);
      }
      Scan(value, unsupported, regex, patterns);
    }
  } else if (schema.is_array()) {
    for (const auto& item : schema) Scan(item, unsupported, regex, patterns);
  }
}

// The node a local reference ("#", "#/definitions/a") names in `root`, or nullptr (an anchor,
// or a pointer that resolves nowhere: valijson reports those).
const nlohmann::json* Resolve(const nlohmann::json& root, const std::string& target) {
  const std::string pointer = target.substr(1);
  if (!pointer.empty() && pointer[0] != '/') return nullptr;
  try {
    const nlohmann::json::json_pointer p(pointer);
    return root.contains(p) ? &root.at(p) : nullptr;
  } catch (const std::exception&) {
    return nullptr;
  }
}

// The schemas `node` applies to the same value it is given ($ref, allOf, anyOf, oneOf, not, if,
// then, else, schema dependencies), as opposed to parts of it (properties, items...).
std::vector<const nlohmann::json*> SameValue(const nlohmann::json& root,
                                             const nlohmann::json& node) {
  std::vector<const nlohmann::json*> out;
  if (!node.is_object()) return out;
  if (auto ref = node.find("$ref"); ref != node.end() && ref->is_string()) {
    const std::string& target = ref->get_ref<const std::string&>();
    if (!target.empty() && target[0] == '#') {
      if (const nlohmann::json* at = Resolve(root, target)) out.push_back(at);
    }
  }
  for (const char* key : {"allOf", "anyOf", "oneOf"}) {
    if (auto list = node.find(key); list != node.end() && list->is_array()) {
      for (const auto& item : *list) out.push_back(&item);
    }
  }
  for (const char* key : {"not", "if", "then", "else"}) {
    if (auto sub = node.find(key); sub != node.end()) out.push_back(&*sub);
  }
  if (auto deps = node.find("dependencies"); deps != node.end() && deps->is_object()) {
    for (const auto& [name, dep] : deps->items()) {
      if (dep.is_object()) out.push_back(&dep);
    }
  }
  return out;
}

// Whether a path of SameValue steps from `node` comes back to a schema on `path`.
bool Cycles(const nlohmann::json& root, const nlohmann::json* node,
            std::vector<const nlohmann::json*>* path, std::set<const nlohmann::json*>* acyclic) {
  if (acyclic->count(node) > 0) return false;
  if (std::find(path->begin(), path->end(), node) != path->end()) return true;
  path->push_back(node);
  for (const nlohmann::json* next : SameValue(root, *node)) {
    if (Cycles(root, next, path, acyclic)) return true;
  }
  path->pop_back();
  acyclic->insert(node);
  return false;
}

// What valijson cannot be given, or empty. Sluice fetches no remote schema, and valijson takes a
// reference that is not "#..." for the document itself: references must point into the schema.
// And a schema that reaches itself again without looking inside the value ({"$ref": "#"},
// {"allOf": [{"$ref": "#"}]}, a -> b -> a) sends valijson into endless recursion: `check`
// crashed on the first, and any request body crashed the gateway on the second
// (jsonschema_fuzz). Recursion through properties, items and the like is ordinary (a tree) and
// ends with the body.
std::string RefError(const nlohmann::json& root, const nlohmann::json& node,
                     std::set<const nlohmann::json*>* acyclic) {
  if (node.is_array()) {
    for (const auto& item : node) {
      if (std::string why = RefError(root, item, acyclic); !why.empty()) return why;
    }
    return "";
  }
  if (!node.is_object()) return "";
  if (auto ref = node.find("$ref"); ref != node.end() && ref->is_string()) {
    const std::string& target = ref->get_ref<const std::string&>();
    if (target.empty() || target[0] != '#') {
      return absl::StrCat("\"$ref\": \"", target,
                          "\" points outside the schema; only references within it (\"#\", "
                          "\"#/definitions/...\") are supported");
    }
  }
  std::vector<const nlohmann::json*> path;
  if (Cycles(root, &node, &path, acyclic)) {
    return "a schema applies itself to the same value again ($ref, allOf, anyOf, oneOf, not, "
           "if/then/else) without looking inside it; validation would recurse until the process "
           "crashes";
  }
  for (const auto& [key, value] : node.items()) {
    if (std::string why = RefError(root, value, acyclic); !why.empty()) return why;
  }
  return "";
}

// Why RE2 (Go's syntax, which KrakenD's validator uses) refuses `pattern`, or empty.
std::string PatternError(const std::string& pattern) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  const re2::RE2 re(pattern, options);
  return re.ok() ? "" : re.error();
}

// The longest string or object key in `doc`.
size_t LongestString(const nlohmann::json& doc) {
  size_t longest = 0;
  if (doc.is_string()) return doc.get_ref<const std::string&>().size();
  if (doc.is_object()) {
    for (const auto& [key, value] : doc.items()) {
      longest = std::max({longest, key.size(), LongestString(value)});
    }
  } else if (doc.is_array()) {
    for (const auto& item : doc) longest = std::max(longest, LongestString(item));
  }
  return longest;
}

valijson::SchemaParser::Version VersionOf(const nlohmann::json& schema) {
  if (schema.is_object()) {
    const std::string uri = schema.value("$schema", "");
    if (uri.find("draft-03") != std::string::npos) return valijson::SchemaParser::kDraft3;
    if (uri.find("draft-04") != std::string::npos) return valijson::SchemaParser::kDraft4;
  }
  return valijson::SchemaParser::kDraft7;
}

}  // namespace

Config::Config() = default;
Config::~Config() = default;

std::shared_ptr<const Config> Parse(config::ObjectReader& reader) {
  const nlohmann::json& schema = reader.object();
  auto c = std::make_shared<Config>();
  std::string unsupported;
  std::vector<std::string> patterns;
  Scan(schema, &unsupported, &c->uses_regex, &patterns);
  if (!unsupported.empty()) {
    reader.Error(unsupported,
                 "is a JSON Schema 2019-09/2020-12 keyword Sluice's validator (valijson) does not "
                 "implement; it would be skipped, so the file is refused");
    return nullptr;
  }
  std::set<const nlohmann::json*> acyclic;
  if (std::string why = RefError(schema, schema, &acyclic); !why.empty()) {
    reader.Error("", why);
    return nullptr;
  }
  for (const std::string& pattern : patterns) {
    if (std::string why = PatternError(pattern); !why.empty()) {
      reader.Error("", absl::StrCat("the pattern \"", pattern,
                                    "\" is not a regular expression Sluice (and KrakenD: Go's "
                                    "RE2 syntax) can use: ",
                                    why));
      return nullptr;
    }
  }
  c->schema = std::make_unique<valijson::Schema>();
  try {
    valijson::SchemaParser parser(VersionOf(schema));
    valijson::adapters::NlohmannJsonAdapter adapter(schema);
    parser.populateSchema(adapter, *c->schema);
  } catch (const std::exception& e) {
    // KrakenD logs this and validates nothing; an endpoint meant to be guarded must not be open.
    reader.Error("", absl::StrCat("not a usable JSON Schema: ", e.what()));
    return nullptr;
  }
  return c;
}

std::string Validate(const Config& config, std::string_view body, valijson::Validator& validator,
                     bool* valid) {
  *valid = false;
  if (body.empty()) return "- the request has no body\n";
  absl::StatusOr<nlohmann::json> doc = encoding::ParseClientJson(body);
  if (!doc.ok()) return absl::StrCat("- the body is not JSON: ", doc.status().message(), "\n");
  if (config.uses_regex && LongestString(*doc) > kMaxPatternString) {
    return absl::StrCat("- a string is longer than ", kMaxPatternString,
                        " characters, the most this schema's patterns are matched against\n");
  }
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(*doc);
  bool ok = false;
  try {
    ok = validator.validate(*config.schema, adapter, &results);
  } catch (const std::exception& e) {
    return absl::StrCat("- cannot validate: ", e.what(), "\n");
  }
  if (ok) {
    *valid = true;
    return {};
  }
  std::string out;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    absl::StrAppend(&out, "- ", absl::StrJoin(error.context, ""), ": ", error.description, "\n");
  }
  return out;
}

Stage::Stage(const Config& config, bool return_error_msg, int workers)
    : config_(config), return_error_msg_(return_error_msg) {
  for (int i = 0; i < std::max(workers, 1); ++i) {
    validators_.push_back(std::make_unique<valijson::Validator>());
  }
}

Stage::~Stage() = default;

pipeline::StageResult Stage::OnRequest(pipeline::RequestContext& ctx) const {
  bool valid = false;
  valijson::Validator& validator =
      *validators_[static_cast<size_t>(ctx.call.worker) % validators_.size()];
  std::string reasons = Validate(config_, ctx.request().body(), validator, &valid);
  if (valid) return pipeline::StageResult::kContinue;
  http::Response res(bhttp::status::bad_request, 11);
  res.set("X-Krakend-Completed", "false");
  if (return_error_msg_) {
    res.set(bhttp::field::content_type, Bv(http::kTextContentType));
    res.body() = std::move(reasons);
  }
  ctx.response = std::move(res);
  return pipeline::StageResult::kRespond;
}

}  // namespace sluice::components::jsonschema
