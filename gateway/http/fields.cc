#include "gateway/http/fields.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gateway/common/strings.h"

namespace sluice::http {

namespace {

using string_view = Fields::string_view;
namespace bhttp = boost::beast::http;

bool IsOws(char c) { return c == ' ' || c == '\t'; }

}  // namespace

Fields::Fields(const Fields& other)
    : entries_(other.entries_),
      bytes_(other.size_ > 0 ? std::make_unique<char[]>(other.size_) : nullptr),
      size_(other.size_),
      capacity_(other.size_),
      live_bytes_(other.live_bytes_),
      present_(other.present_),
      method_(other.method_),
      target_or_reason_(other.target_or_reason_) {
  if (size_ > 0) std::memcpy(bytes_.get(), other.bytes_.get(), size_);
}

Fields& Fields::operator=(const Fields& other) {
  if (this != &other) *this = Fields(other);
  return *this;
}

Fields::Fields(Fields&& other) noexcept
    : entries_(std::move(other.entries_)),
      bytes_(std::move(other.bytes_)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)),
      live_bytes_(std::exchange(other.live_bytes_, 0)),
      present_(std::exchange(other.present_, 0)),
      method_(std::move(other.method_)),
      target_or_reason_(std::move(other.target_or_reason_)) {
  other.entries_.clear();
}

Fields& Fields::operator=(Fields&& other) noexcept {
  if (this == &other) return *this;
  entries_ = std::move(other.entries_);
  other.entries_.clear();
  bytes_ = std::move(other.bytes_);
  size_ = std::exchange(other.size_, 0);
  capacity_ = std::exchange(other.capacity_, 0);
  live_bytes_ = std::exchange(other.live_bytes_, 0);
  present_ = std::exchange(other.present_, 0);
  method_ = std::move(other.method_);
  target_or_reason_ = std::move(other.target_or_reason_);
  return *this;
}

bool Fields::Matches(const Entry& e, field name, string_view name_string) const {
  if (name != field::unknown) return e.name == name;
  return e.name == field::unknown &&
         EqualsIgnoreCase(std::string_view(bytes_.get() + e.name_at, e.name_size), Sv(name_string));
}

size_t Fields::IndexOf(field name, string_view name_string) const {
  if ((present_ & Bit(name, name_string)) == 0) return entries_.size();
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (Matches(entries_[i], name, name_string)) return i;
  }
  return entries_.size();
}

Fields::const_iterator Fields::find(field name) const { return {this, IndexOf(name, {})}; }

Fields::const_iterator Fields::find(string_view name) const {
  return {this, IndexOf(bhttp::string_to_field(name), name)};
}

std::size_t Fields::count(field name) const {
  if ((present_ & Bit(name, {})) == 0) return 0;
  std::size_t n = 0;
  for (const Entry& e : entries_) n += e.name == name ? 1 : 0;
  return n;
}

std::size_t Fields::count(string_view name) const {
  const field f = bhttp::string_to_field(name);
  if ((present_ & Bit(f, name)) == 0) return 0;
  std::size_t n = 0;
  for (const Entry& e : entries_) n += Matches(e, f, name) ? 1 : 0;
  return n;
}

string_view Fields::operator[](field name) const {
  const size_t i = IndexOf(name, {});
  return i < entries_.size() ? At(i).value() : string_view();
}

string_view Fields::operator[](string_view name) const {
  const size_t i = IndexOf(bhttp::string_to_field(name), name);
  return i < entries_.size() ? At(i).value() : string_view();
}

string_view Fields::at(field name) const {
  const size_t i = IndexOf(name, {});
  if (i == entries_.size()) throw std::out_of_range("field not found");
  return At(i).value();
}

string_view Fields::at(string_view name) const {
  const size_t i = IndexOf(bhttp::string_to_field(name), name);
  if (i == entries_.size()) throw std::out_of_range("field not found");
  return At(i).value();
}

void Fields::insert(field name, string_view value) { insert(name, bhttp::to_string(name), value); }

void Fields::insert(string_view name, string_view value) {
  insert(bhttp::string_to_field(name), name, value);
}

void Fields::insert(field name, string_view name_string, string_view value) {
  // Stored trimmed, as basic_fields stores it (parsed values come trimmed: one look each end).
  if (!value.empty() && (IsOws(value.front()) || IsOws(value.back())))
    value = Bv(TrimOws(Sv(value)));
  const auto n = static_cast<uint32_t>(name_string.size());
  const auto v = static_cast<uint32_t>(value.size());
  if (size_ + static_cast<size_t>(n) + v > capacity_) Reserve(static_cast<size_t>(n) + v);
  if (entries_.capacity() == 0) entries_.reserve(16);
  char* at = bytes_.get() + size_;
  CopyBytes(at, name_string.data(), n);
  CopyBytes(at + n, value.data(), v);
  const Entry e{name, size_, n, size_ + n, v};
  size_ += n + v;
  live_bytes_ += n + v;
  const uint64_t bit = Bit(name, name_string);
  // The common cases: a name not present yet, or the same as the last field's.
  if ((present_ & bit) == 0 || entries_.empty() || Matches(entries_.back(), name, name_string)) {
    present_ |= bit;
    entries_.push_back(e);
    return;
  }
  // As basic_fields: a field joins the others of its name, after the last of them.
  for (size_t i = entries_.size(); i-- > 0;) {
    if (Matches(entries_[i], name, name_string)) {
      entries_.insert(entries_.begin() + static_cast<std::ptrdiff_t>(i + 1), e);
      return;
    }
  }
  entries_.push_back(e);  // the bit was another field's
}

void Fields::Reserve(size_t more) {
  // A new buffer, with only the bytes of fields still present: doubling from 256 bytes (a
  // typical message's fields fit in the first), or the same size when dropping erased fields'
  // bytes makes the room.
  size_t capacity = capacity_;
  if (live_bytes_ + more > capacity_ || size_ - live_bytes_ < capacity_ / 2) {
    capacity = std::max<size_t>(256, 2 * static_cast<size_t>(capacity_));
  }
  while (capacity < live_bytes_ + more) capacity *= 2;
  if (capacity > UINT32_MAX) throw std::length_error("header fields too large");
  auto bigger = std::make_unique<char[]>(capacity);
  uint32_t used = 0;
  for (Entry& e : entries_) {
    CopyBytes(bigger.get() + used, bytes_.get() + e.name_at, e.name_size);
    e.name_at = used;
    used += e.name_size;
    CopyBytes(bigger.get() + used, bytes_.get() + e.value_at, e.value_size);
    e.value_at = used;
    used += e.value_size;
  }
  bytes_ = std::move(bigger);
  size_ = used;
  capacity_ = static_cast<uint32_t>(capacity);
}

void Fields::set(field name, string_view value) {
  EraseAll(name, bhttp::to_string(name));
  insert(name, value);
}

void Fields::set(string_view name, string_view value) {
  const field f = bhttp::string_to_field(name);
  EraseAll(f, name);
  insert(f, name, value);
}

Fields::const_iterator Fields::erase(const_iterator pos) {
  const Entry& e = entries_[pos.i_];
  live_bytes_ -= e.name_size + e.value_size;
  entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(pos.i_));
  return {this, pos.i_};
}

std::size_t Fields::erase(field name) { return EraseAll(name, {}); }

std::size_t Fields::erase(string_view name) { return EraseAll(bhttp::string_to_field(name), name); }

std::size_t Fields::EraseAll(field name, string_view name_string) {
  size_t i = IndexOf(name, name_string);
  if (i == entries_.size()) return 0;  // the common case: nothing to move
  size_t kept = i;
  for (; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (Matches(e, name, name_string)) {
      live_bytes_ -= e.name_size + e.value_size;
    } else {
      entries_[kept++] = e;
    }
  }
  const size_t erased = entries_.size() - kept;
  entries_.resize(kept);
  return erased;
}

void Fields::clear() {
  entries_.clear();
  size_ = 0;
  live_bytes_ = 0;
  present_ = 0;
}

bool Fields::get_chunked_impl() const {
  const size_t i = IndexOf(field::transfer_encoding, {});
  if (i == entries_.size()) return false;
  // Chunked when it is the last coding (RFC 9112 6.1).
  std::string_view last;
  ForEachListItem(Sv(At(i).value()), [&](std::string_view item) { last = item; });
  return EqualsIgnoreCase(last, "chunked");
}

bool Fields::get_keep_alive_impl(unsigned version) const {
  const size_t i = IndexOf(field::connection, {});
  const string_view connection = i < entries_.size() ? At(i).value() : string_view();
  if (version < 11) return ListsToken(Sv(connection), "keep-alive");
  return !ListsToken(Sv(connection), "close");
}

bool Fields::has_content_length_impl() const {
  return IndexOf(field::content_length, {}) < entries_.size();
}

// The three setters below write what basic_fields writes, in the same cases (set() moves the
// field to the end even when its value stays), so answers are byte for byte what they were.

void Fields::set_chunked_impl(bool value) {
  const size_t i = IndexOf(field::transfer_encoding, {});
  if (value) {
    if (i == entries_.size()) return set(field::transfer_encoding, "chunked");
    const string_view codings = At(i).value();
    std::string_view last;
    ForEachListItem(Sv(codings), [&](std::string_view item) { last = item; });
    if (EqualsIgnoreCase(last, "chunked")) return;  // already
    std::string appended(codings.data(), codings.size());
    appended += ", chunked";
    return set(field::transfer_encoding, appended);
  }
  if (i == entries_.size()) return;
  // Only a last "chunked" goes.
  std::vector<std::string_view> items;
  ForEachListItem(Sv(At(i).value()), [&](std::string_view item) { items.push_back(item); });
  if (!items.empty() && EqualsIgnoreCase(items.back(), "chunked")) items.pop_back();
  std::string kept;
  for (std::string_view item : items) {
    if (!kept.empty()) kept += ", ";
    kept.append(item.data(), item.size());
  }
  if (kept.empty()) {
    erase(field::transfer_encoding);
  } else {
    set(field::transfer_encoding, kept);
  }
}

void Fields::set_content_length_impl(const boost::optional<std::uint64_t>& value) {
  if (!value) {
    erase(field::content_length);
    return;
  }
  set(field::content_length, std::to_string(*value));
}

void Fields::set_keep_alive_impl(unsigned version, bool value) {
  const size_t i = IndexOf(field::connection, {});
  const string_view connection = i < entries_.size() ? At(i).value() : string_view();
  // HTTP/1.0 keeps alive only when asked, HTTP/1.1 unless told to close: one word is removed
  // (both when the other is not wanted), and the wanted one added unless present.
  const bool old_version = version < 11;
  const char* drop_too = old_version != value ? "keep-alive" : nullptr;
  const char* add =
      old_version && value ? "keep-alive" : (!old_version && !value ? "close" : nullptr);
  const char* drop = old_version ? "close" : (value ? "close" : "keep-alive");
  std::string kept;
  ForEachListItem(Sv(connection), [&](std::string_view item) {
    if (EqualsIgnoreCase(item, drop) || (drop_too != nullptr && EqualsIgnoreCase(item, drop_too))) {
      return;
    }
    if (!kept.empty()) kept += ", ";
    kept.append(item.data(), item.size());
  });
  if (add != nullptr && !ListsToken(Sv(connection), add)) {
    if (!kept.empty()) kept += ", ";
    kept += add;
  }
  if (kept.empty()) {
    if (i < entries_.size()) erase(field::connection);
    return;
  }
  set(field::connection, kept);
}

}  // namespace sluice::http
