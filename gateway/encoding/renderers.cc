#include "gateway/encoding/renderers.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "gateway/common/strings.h"
#include "gateway/encoding/json.h"
#include "gateway/encoding/xml.h"
#include "gateway/encoding/yaml.h"

namespace sluice::encoding {
namespace {

using Json = nlohmann::json;
using config::OutputEncoding;

std::string Lower(std::string_view s) {
  return absl::AsciiStrToLower(absl::string_view(s.data(), s.size()));
}

// A qvalue in thousandths ("0.5" -> 500); digits past the third decimal are ignored. Malformed
// values count as 1: a client that sent a range meant it.
int QValue(std::string_view text) {
  if (text.empty() || (text[0] != '0' && text[0] != '1')) return 1000;
  int value = (text[0] - '0') * 1000;
  if (text.size() > 1) {
    if (text[1] != '.') return 1000;
    int scale = 100;
    for (char c : text.substr(2)) {
      if (c < '0' || c > '9') return 1000;
      value += (c - '0') * scale;
      scale /= 10;
    }
  }
  return std::min(value, 1000);
}

// The encoding a media range selects, or kNoOp for none we offer.
OutputEncoding ForMediaRange(std::string_view range) {
  if (range == "application/json" || range == "application/*" || range == "*/*") {
    return OutputEncoding::kJson;
  }
  if (range == "application/xml" || range == "text/xml") return OutputEncoding::kXml;
  if (range == "application/x-yaml" || range == "application/yaml" || range == "text/yaml" ||
      range == "text/x-yaml" || range == "text/plain" || range == "text/*") {
    return OutputEncoding::kYaml;
  }
  return OutputEncoding::kNoOp;
}

}  // namespace

OutputEncoding Negotiate(std::string_view accept_header) {
  struct Candidate {
    OutputEncoding encoding;
    int q;
  };
  std::vector<Candidate> candidates;
  while (!accept_header.empty()) {
    const size_t comma = accept_header.find(',');
    std::string_view element = accept_header.substr(0, comma);
    accept_header.remove_prefix(comma == std::string_view::npos ? accept_header.size() : comma + 1);

    const size_t semicolon = element.find(';');
    const OutputEncoding encoding = ForMediaRange(Lower(TrimOws(element.substr(0, semicolon))));
    if (encoding == OutputEncoding::kNoOp) continue;
    int q = 1000;
    std::string_view params =
        semicolon == std::string_view::npos ? std::string_view() : element.substr(semicolon + 1);
    while (!params.empty()) {
      const size_t next = params.find(';');
      const std::string_view param = TrimOws(params.substr(0, next));
      params.remove_prefix(next == std::string_view::npos ? params.size() : next + 1);
      if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
        q = QValue(TrimOws(param.substr(2)));
      }
    }
    if (q > 0) candidates.push_back({encoding, q});
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.q > b.q; });
  return candidates.empty() ? OutputEncoding::kJson : candidates.front().encoding;
}

absl::StatusOr<Rendered> Render(OutputEncoding encoding, const nlohmann::json& data,
                                std::string_view accept_header) {
  switch (encoding) {
    case OutputEncoding::kJson:
      return Rendered{std::string(kJsonContentType), RenderJson(data)};
    case OutputEncoding::kJsonCollection: {
      auto it = data.is_object() ? data.find("collection") : data.end();
      return Rendered{std::string(kJsonContentType), it == data.end() ? "[]" : RenderJson(*it)};
    }
    case OutputEncoding::kString: {
      auto it = data.is_object() ? data.find("content") : data.end();
      std::string body;
      if (it != data.end() && it->is_string()) body = it->get<std::string>();
      return Rendered{std::string(kTextContentType), std::move(body)};
    }
    case OutputEncoding::kXml: {
      absl::StatusOr<std::string> body = JsonToXml(data);
      if (!body.ok()) return body.status();
      return Rendered{std::string(kXmlContentType), *std::move(body)};
    }
    case OutputEncoding::kYaml: {
      absl::StatusOr<std::string> body = RenderYaml(data);
      if (!body.ok()) return body.status();
      return Rendered{std::string(kYamlContentType), *std::move(body)};
    }
    case OutputEncoding::kNegotiate:
      return Render(Negotiate(accept_header), data, accept_header);
    case OutputEncoding::kNoOp:
      break;
  }
  return absl::FailedPreconditionError("no-op answers are streamed, not rendered");
}

}  // namespace sluice::encoding
