#pragma once

// Typed reading of one JSON object of a configuration file (the service, an endpoint, a
// backend, or one component's `extra_config` namespace). Every problem is recorded with its JSON
// path ("endpoints[2].extra_config.qos/ratelimit/router.max_rate") in a Diagnostics sink, so a
// file's errors are all reported at once; nothing throws.
//
// Accessors return nullopt when the key is absent or null (as Go's encoding/json treats them)
// and when the value has the wrong type (also recorded as an error). KrakenD's loader converts
// types loosely ("true" for true, "10" for 10); so do the accessors, noting each conversion as
// lint so `check --lint` can say where a string stood for a number.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "nlohmann/json.hpp"

namespace sluice::config {

// A problem found in the file, located by JSON path ("endpoints[3].backend[0].url_pattern").
struct Diagnostic {
  std::string path;
  std::string message;
};

// Where a load's findings go. Errors fail the load; warnings are printed by `check` and at start
// (a component that has no effect, a fallback); lint only by `check --lint`.
struct Diagnostics {
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;
  std::vector<Diagnostic> lint;
};

// "a.b" for a key under a path; just "b" at the top level.
std::string JoinPath(std::string_view parent, std::string_view key);
// "a[3]".
std::string IndexPath(std::string_view parent, size_t index);
// "string", "integer", "array"... as an error message names a JSON value's type.
std::string TypeName(const nlohmann::json& value);

// The known key closest to a misspelt `key` (at most two edits), for "did you mean".
std::optional<std::string_view> SuggestKey(std::string_view key,
                                           absl::Span<const std::string_view> known);

// Go's strconv.ParseBool ("1", "t", "true", "TRUE", "0", "f", ...), as KrakenD's loose decoding
// reads a string where a boolean is expected.
std::optional<bool> ParseGoBool(std::string_view s);

// Parses a Go-style duration ("2s", "1m30s", "1500ms", "250us", "10ns", "1h"). nullopt if
// malformed or negative.
std::optional<absl::Duration> ParseDuration(std::string_view text);

class ObjectReader {
 public:
  // `object` must outlive the reader. A non-object `object` is recorded as a type error at
  // `path`, and every accessor then returns nullopt.
  ObjectReader(const nlohmann::json& object, std::string path, Diagnostics* sink);

  const std::string& path() const { return path_; }
  std::string PathOf(std::string_view key) const { return JoinPath(path_, key); }
  bool ok() const { return object_ != nullptr; }
  Diagnostics* sink() const { return sink_; }
  // The object itself, for a component whose value is a document of its own (a JSON Schema).
  const nlohmann::json& object() const { return *object_; }

  // The raw value, or nullptr when absent or null.
  const nlohmann::json* Find(std::string_view key) const;
  bool Has(std::string_view key) const { return Find(key) != nullptr; }

  std::optional<std::string> String(std::string_view key);
  // true/false; also "true"/"false"/"1"/"0" (lint: written as a string).
  std::optional<bool> Bool(std::string_view key);
  // An integer in [min, max]; also a numeric string (lint) and a float with no fraction.
  std::optional<int64_t> Int(std::string_view key, int64_t min, int64_t max);
  // Any finite number; also a numeric string (lint).
  std::optional<double> Number(std::string_view key);
  // A Go duration string ("1m"). With `int_seconds`, also an integer of seconds (KrakenD writes
  // some durations as integers: cache_duration, circuit-breaker interval...).
  std::optional<absl::Duration> Duration(std::string_view key, bool int_seconds = false);
  // An array of strings (one string alone is an error: KrakenD's schema requires arrays).
  std::optional<std::vector<std::string>> Strings(std::string_view key);
  // A nested object; nullopt when absent (a non-object is an error).
  std::optional<ObjectReader> Object(std::string_view key);

  void Error(std::string_view key, std::string message);
  void Warn(std::string_view key, std::string message);
  void Lint(std::string_view key, std::string message);

  // Records as lint every key not in `known` (keys starting with @ $ _ # are comments), with a
  // "did you mean" suggestion when one is close.
  void CheckKeys(absl::Span<const std::string_view> known);

 private:
  const nlohmann::json* object_;
  std::string path_;
  Diagnostics* sink_;
};

// A component's typed configuration (gateway/components/<namespace>/), parsed once at load. The
// config model stores them type-erased, keyed by the component's KrakenD namespace; the
// component that owns the namespace reads its own type back.
class ComponentConfig {
 public:
  virtual ~ComponentConfig() = default;
};

class ComponentConfigs {
 public:
  void Add(std::string name, std::shared_ptr<const ComponentConfig> config) {
    entries_.push_back({std::move(name), std::move(config)});
  }
  // The configuration of namespace `name` as `T` (the type its component parsed), or nullptr.
  template <typename T>
  const T* Get(std::string_view name) const {
    for (const Entry& e : entries_) {
      if (e.name == name) return static_cast<const T*>(e.config.get());
    }
    return nullptr;
  }
  bool Has(std::string_view name) const {
    for (const Entry& e : entries_) {
      if (e.name == name) return true;
    }
    return false;
  }
  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    std::string name;
    std::shared_ptr<const ComponentConfig> config;
  };
  std::vector<Entry> entries_;
};

}  // namespace sluice::config
