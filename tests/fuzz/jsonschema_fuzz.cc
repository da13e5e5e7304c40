// validation/json-schema on any bytes: the input up to its first NUL is the schema (parsed as
// `check` parses it: a schema valijson cannot honour is refused, not half-applied), the rest the
// request body validated against it, with the same limits the endpoint stage applies.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/components/validation/jsonschema/schema.h"
#include "gateway/config/reader.h"
#include "nlohmann/json.hpp"
#include "valijson/validator.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace jsonschema = sluice::components::jsonschema;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const size_t nul = bytes.find('\0');
  const std::string_view schema_text = bytes.substr(0, nul);
  const std::string_view body = nul == std::string_view::npos ? "" : bytes.substr(nul + 1);
  const nlohmann::json schema = nlohmann::json::parse(schema_text, nullptr, false);
  if (schema.is_discarded() || !schema.is_object()) return 0;
  sluice::config::Diagnostics diagnostics;
  sluice::config::ObjectReader reader(schema, "extra_config.validation/json-schema", &diagnostics);
  std::shared_ptr<const jsonschema::Config> config = jsonschema::Parse(reader);
  if (config == nullptr || !diagnostics.errors.empty()) return 0;
  valijson::Validator validator;
  bool valid = false;
  jsonschema::Validate(*config, body, validator, &valid);
  return 0;
}
