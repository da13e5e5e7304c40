#pragma once

// Endpoint answer -> HTTP body and Content-Type, by the endpoint's `output_encoding` (lura
// router/gin/render.go). Pure: the caller sets the headers and writes the body.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "gateway/config/config.h"
#include "nlohmann/json.hpp"

namespace sluice::encoding {

inline constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";

struct Rendered {
  std::string content_type;
  std::string body;
};

// Renders the merged, shaped `data`:
// - json:            RenderJson(data), kJsonContentType.
// - json-collection: RenderJson(data["collection"]); "[]" when data has no "collection" (Lura's
//                    jsonCollectionRender), kJsonContentType.
// - string:          data["content"] when it is a string, else an empty body (Lura's
//                    stringRender renders "" for a missing or non-string content), text/plain.
// - xml:             JsonToXml(data), kXmlContentType (see xml.h for how KrakenD's differs).
// - yaml:            RenderYaml(data), kYamlContentType.
// - negotiate:       the encoding Negotiate(accept_header) picks.
// - no-op:           FailedPrecondition: no-op answers are streamed, never rendered.
// `accept_header` is read only by negotiate. Errors (FailedPrecondition, or InvalidArgument for
// data nested beyond the XML/YAML render limits) are the gateway's fault: answer 500.
absl::StatusOr<Rendered> Render(config::OutputEncoding encoding, const nlohmann::json& data,
                                std::string_view accept_header);

// The encoding `negotiate` uses for an Accept header: kJson, kXml or kYaml.
// - application/json, application/*, */*, an empty or unmatched header -> json
// - application/xml, text/xml -> xml
// - application/x-yaml, application/yaml, text/yaml, text/x-yaml, text/plain, text/* -> yaml
// Media ranges are tried by descending q (equal q: in header order); q=0 excludes a range;
// media type parameters are ignored. Gin (KrakenD) offers only application/json, text/plain
// (rendered as YAML) and application/xml, and ignores q: the header order decides there.
// Callers should add `Vary: Accept` to negotiated answers.
config::OutputEncoding Negotiate(std::string_view accept_header);

}  // namespace sluice::encoding
