#pragma once

// KrakenD's `validation/json-schema` (endpoint level; v2
// `github.com/devopsfaith/krakend-jsonschema`): the namespace's value is a JSON Schema the client's
// request body must satisfy. An absent or empty body, a body that is not JSON, or one the schema
// rejects gets 400 and never reaches a backend: an empty body, or with the router's
// `return_error_msg` a text/plain list of
// `- <where>: <why>` lines; `X-Krakend-Completed: false` either way.
//
// Validation is Debian's valijson (drafts 4 and 7; draft 3 by $schema). Where KrakenD logs an
// invalid schema and then validates nothing, Sluice refuses the file; likewise a schema using
// keywords of drafts 2019-09/2020-12 valijson does not know (`unevaluatedProperties`,
// `prefixItems`, ...), which would otherwise be skipped. valijson matches `pattern` and `format`
// with std::regex, which recurses per character and overflows the stack near 25,000 characters:
// when the schema uses them, a body with a string (or key) over kMaxPatternString characters is
// refused with 400 rather than risk the process.

#include <memory>
#include <string>
#include <vector>

#include "gateway/config/reader.h"
#include "gateway/pipeline/stage.h"

namespace valijson {
class Schema;
class Validator;
}  // namespace valijson

namespace sluice::components::jsonschema {

inline constexpr std::string_view kNamespace = "validation/json-schema";
inline constexpr size_t kMaxPatternString = 4096;

struct Config : config::ComponentConfig {
  Config();
  ~Config() override;
  std::unique_ptr<valijson::Schema> schema;
  bool uses_regex = false;  // pattern, patternProperties or format somewhere in the schema
};

// The reader's object is the schema.
std::shared_ptr<const Config> Parse(config::ObjectReader& reader);

// Validates `body` with `validator` (which caches the schema's compiled patterns; one per
// thread); empty when it is valid, else the reasons (one per line, "- " first). `valid` tells
// the two apart (a valid body has no reasons).
std::string Validate(const Config& config, std::string_view body, valijson::Validator& validator,
                     bool* valid);

class Stage final : public pipeline::Stage {
 public:
  // `workers`: one validator per worker thread, so each compiles the schema's patterns once.
  Stage(const Config& config, bool return_error_msg, int workers);
  ~Stage() override;
  std::string_view name() const override { return kNamespace; }
  pipeline::StageResult OnRequest(pipeline::RequestContext& ctx) const override;

 private:
  const Config& config_;  // owned by the service config, which outlives the stack
  bool return_error_msg_;
  mutable std::vector<std::unique_ptr<valijson::Validator>> validators_;
};

}  // namespace sluice::components::jsonschema
