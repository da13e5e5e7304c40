#pragma once

// XML <-> JSON, for the `xml`/`rss` backend encodings and the `xml` output encoding.
//
// Decoding follows the convention of github.com/clbanning/mxj, which KrakenD's xml decoder
// (krakend-xml, mxj.NewMapXmlReader) uses, so shaping paths written for KrakenD still match:
//   <user id="7"><name>Ann</name><tag>a</tag><tag>b</tag></user>
//   -> {"user": {"-id": "7", "name": "Ann", "tag": ["a", "b"]}}
// - The document is an object holding the root element under its name.
// - An element with neither attributes nor child elements is its text, a string ("" if empty).
//   Values stay strings: mxj is used without casting.
// - Otherwise it is an object: attributes as "-name", children by name (repeated siblings
//   become an array, in document order), and its text, if any, as "#text".
// - Text is trimmed of surrounding whitespace (as mxj); the runs of text between child elements
//   of a mixed-content element are joined with one space (mxj keeps only the last run).
// - Namespace prefixes are dropped from element and attribute names (mxj keeps the local name);
//   `xmlns:p="..."` becomes "-p" and `xmlns="..."` "-xmlns".
// - CDATA is text; comments and processing instructions are skipped.
// Safety: a DOCTYPE is rejected, so no entity can be declared, expanded or fetched (no XXE, no
// billion laughs); only the five predefined entities and character references are decoded;
// invalid UTF-8 and characters XML forbids are rejected (as Go's encoding/xml); nesting deeper
// than kMaxXmlDepth is rejected.
//
// Encoding (JsonToXml) is the inverse convention under a fixed root element <response>:
//   {"user": {"-id": 7, "name": "Ann", "tag": ["a", "b"]}}
//   -> <response><user id="7"><name>Ann</name><tag>a</tag><tag>b</tag></user></response>
// - Members in key order (nlohmann objects are sorted), so output is deterministic.
// - A "-name" member with a scalar value becomes an attribute, "#text" text content.
// - An array member repeats the element once per item (an empty array writes nothing); an array
//   inside an array, or at the top, becomes one element whose items are <item> elements.
// - null and {} are an empty element (<k/>); numbers and booleans are their JSON text.
// - Keys that are not XML names are made into names: invalid characters become '_', a name that
//   cannot start with its first character gets a '_' prefix ("1st" -> "_1st"), ':' becomes '_'.
//   Of non-ASCII characters only Latin-1 letters and CJK ideographs are kept, the subset every
//   XML 1.0 edition's name rules accept (expat applies the stricter 4th edition tables).
// - Invalid UTF-8 and characters XML cannot carry are replaced by U+FFFD.
// KrakenD (krakend-xml's render, through mxj) writes the same Content-Type, application/xml, and
// its root differently: the single top-level key when there is one, else <doc>.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace sluice::encoding {

inline constexpr std::string_view kXmlContentType = "application/xml";

// Deepest element nesting accepted. Each level becomes up to two JSON levels (object, array),
// which keeps decoded documents within the same budget as kMaxJsonDepth; real documents
// (feeds, SOAP) nest < 30 levels.
inline constexpr int kMaxXmlDepth = 500;

// Deepest JSON value JsonToXml writes; beyond it the value is refused instead of risking the
// stack (one frame per level, a few KiB each under sanitizers). Decoded bodies stay below it:
// kMaxJsonDepth (1000) plus headroom for group and flatmap destinations.
inline constexpr int kMaxXmlRenderDepth = 1100;

// Parses a whole XML document. InvalidArgument (with a byte offset) when it is malformed or
// unsafe. Never throws.
absl::StatusOr<nlohmann::json> XmlToJson(std::string_view xml);

// Renders `value` as an XML document rooted at <response>, without an XML declaration (as Go's
// encoding/xml). InvalidArgument only when nesting exceeds kMaxXmlRenderDepth.
absl::StatusOr<std::string> JsonToXml(const nlohmann::json& value);

}  // namespace sluice::encoding
