#pragma once

// Backend body -> JSON object, by the backend's `encoding` (KrakenD's encoding.Decoder registry,
// lura encoding/encoding.go). Pure: the caller owns I/O, logging and marking the backend failed.

#include <string_view>

#include "absl/status/statusor.h"
#include "gateway/config/config.h"
#include "nlohmann/json.hpp"

namespace sluice::encoding {

// Decodes `body` into the object the shaping and merge stages work on:
// - json:     an object; with `is_collection` an array, as {"collection": [...]} (DecodeJson).
// - safejson: any JSON; an object as is, an array as {"collection": [...]}, a scalar as
//             {"content": scalar}. `is_collection` is ignored, as in Lura.
// - string:   {"content": body}, the bytes as they came. `is_collection` is ignored.
// - xml, rss: XmlToJson (see xml.h); with `is_collection` the document object is wrapped as
//             {"collection": {...}} (krakend-xml's collection decoder). KrakenD decodes rss
//             with a feed parser (gofeed) into its own item model; we read the feed as plain XML
//             (paths start at "rss.channel.item"), a documented difference.
// - no-op:    not decoded; FailedPrecondition (the pipeline streams no-op bodies untouched).
// Errors are InvalidArgument saying what was wrong with the body. Never throws.
// Both JSON decoders reject trailing data after the value; Go's json.Decoder (KrakenD) ignores it.
absl::StatusOr<nlohmann::json> Decode(config::BackendEncoding encoding, std::string_view body,
                                      bool is_collection);

}  // namespace sluice::encoding
