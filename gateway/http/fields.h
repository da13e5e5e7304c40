#pragma once

// The header fields of every message Sluice holds (client requests and answers, backend requests
// and answers): Beast's `basic_fields` interface, as far as Sluice uses it, over flat storage.
// Beast allocates each field on its own and keeps it in a red-black tree and a list; a message
// here costs one buffer for the bytes of its names and values and (past eight fields) one array
// of fields, and lookups scan that array (messages hold a few dozen fields at most).
//
// As with basic_fields, fields iterate in the order of insertion, except that a field joins the
// others of its name (after the last of them); set() removes every field of its name and appends
// the new one; find() returns the first field of the name. As basic_fields, names match
// case-insensitively, and a known name is found by its `field` value.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "boost/beast/core/string.hpp"
#include "boost/beast/http/field.hpp"
#include "boost/optional/optional.hpp"

namespace sluice::http {

class Fields {
  struct Entry {
    boost::beast::http::field name;
    uint32_t name_at;  // offsets into bytes_
    uint32_t name_size;
    uint32_t value_at;
    uint32_t value_size;
  };

 public:
  using field = boost::beast::http::field;
  using string_view = boost::beast::string_view;

  // One field, as basic_fields::value_type shows it. Valid until its Fields changes.
  class value_type {
   public:
    field name() const { return name_; }
    string_view name_string() const { return name_string_; }
    string_view value() const { return value_; }

   private:
    friend class Fields;
    value_type(field name, string_view name_string, string_view value)
        : name_(name), name_string_(name_string), value_(value) {}
    field name_;
    string_view name_string_;
    string_view value_;
  };

  class const_iterator {
   public:
    using iterator_category = std::bidirectional_iterator_tag;
    using value_type = Fields::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = value_type;  // a view, made on each access

    struct Arrow {
      value_type field;
      const value_type* operator->() const { return &field; }
    };

    const_iterator() = default;
    value_type operator*() const { return fields_->At(i_); }
    Arrow operator->() const { return Arrow{fields_->At(i_)}; }
    const_iterator& operator++() {
      ++i_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator before = *this;
      ++i_;
      return before;
    }
    const_iterator& operator--() {
      --i_;
      return *this;
    }
    const_iterator operator--(int) {
      const_iterator before = *this;
      --i_;
      return before;
    }
    bool operator==(const const_iterator& other) const { return i_ == other.i_; }
    bool operator!=(const const_iterator& other) const { return i_ != other.i_; }

   private:
    friend class Fields;
    const_iterator(const Fields* fields, size_t i) : fields_(fields), i_(i) {}
    const Fields* fields_ = nullptr;
    size_t i_ = 0;
  };
  using iterator = const_iterator;

  Fields() = default;
  Fields(const Fields& other);
  Fields& operator=(const Fields& other);
  Fields(Fields&& other) noexcept;
  Fields& operator=(Fields&& other) noexcept;
  ~Fields() = default;

  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, entries_.size()}; }
  const_iterator cbegin() const { return begin(); }
  const_iterator cend() const { return end(); }
  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }  // the number of fields
  // Bytes held for names and values (those of erased fields included until they are dropped).
  std::size_t buffer_bytes() const { return capacity_; }

  // The first field of the name, or end().
  const_iterator find(field name) const;
  const_iterator find(string_view name) const;
  std::size_t count(field name) const;
  std::size_t count(string_view name) const;
  // The first value of the name, or "" (basic_fields::operator[]).
  string_view operator[](field name) const;
  string_view operator[](string_view name) const;
  // The first value of the name; throws std::out_of_range without one.
  string_view at(field name) const;
  string_view at(string_view name) const;

  // Appends a field (one of the same name may exist already). A known field by its canonical
  // name; a name string keeps its case.
  void insert(field name, string_view value);
  void insert(string_view name, string_view value);
  void insert(field name, string_view name_string, string_view value);
  // Removes every field of the name, then appends this one.
  void set(field name, string_view value);
  void set(string_view name, string_view value);
  // Removes one field; returns the one after it.
  const_iterator erase(const_iterator pos);
  // Removes every field of the name; returns how many there were.
  std::size_t erase(field name);
  std::size_t erase(string_view name);
  void clear();

 protected:
  // What basic_fields gives Beast's header<> (boost/beast/http/type_traits.hpp, is_fields).
  string_view get_method_impl() const { return method_; }
  string_view get_target_impl() const { return target_or_reason_; }
  string_view get_reason_impl() const { return target_or_reason_; }
  bool get_chunked_impl() const;
  bool get_keep_alive_impl(unsigned version) const;
  bool has_content_length_impl() const;
  void set_method_impl(string_view s) { method_.assign(s.data(), s.size()); }
  void set_target_impl(string_view s) { target_or_reason_.assign(s.data(), s.size()); }
  void set_reason_impl(string_view s) { target_or_reason_.assign(s.data(), s.size()); }
  void set_chunked_impl(bool value);
  void set_content_length_impl(const boost::optional<std::uint64_t>& value);
  void set_keep_alive_impl(unsigned version, bool value);

 private:
  value_type At(size_t i) const {
    const Entry& e = entries_[i];
    return value_type(e.name, string_view(bytes_.get() + e.name_at, e.name_size),
                      string_view(bytes_.get() + e.value_at, e.value_size));
  }
  // A bit per field value modulo 64, and for a name Beast does not know, from its length and
  // last character (case folded): set when such a field is inserted, cleared only by clear().
  // Most lookups are for fields a message lacks (Content-Length, Transfer-Encoding, X-Forwarded-
  // For...): a clear bit answers without a scan. An unknown name without its string: every bit.
  static uint64_t Bit(field name, string_view name_string) {
    if (name != field::unknown) return uint64_t{1} << (static_cast<unsigned>(name) & 63);
    if (name_string.empty()) return ~uint64_t{0};
    // `| 0x20` folds A-Z as EqualsIgnoreCase does: names it matches get the same bit.
    const unsigned hash = static_cast<unsigned>(name_string.size()) * 31 +
                          (static_cast<unsigned char>(name_string.back()) | 0x20u);
    return uint64_t{1} << (hash & 63);
  }
  bool Matches(const Entry& e, field name, string_view name_string) const;
  size_t IndexOf(field name, string_view name_string) const;
  std::size_t EraseAll(field name, string_view name_string);
  // Room for `more` bytes in bytes_ past size_ (called when there is not): a new buffer, without
  // the bytes of erased fields.
  void Reserve(size_t more);

  // A vector, not an inlined one: messages move several times per request, and a move is then
  // three pointers.
  std::vector<Entry> entries_;
  // Names and values, appended; the bytes of erased fields stay until Reserve moves the rest.
  std::unique_ptr<char[]> bytes_;
  uint32_t size_ = 0;
  uint32_t capacity_ = 0;
  uint32_t live_bytes_ = 0;  // of size_, those of fields still present
  uint64_t present_ = 0;     // Bit() of every field inserted since the last clear()
  std::string method_;       // a request's method when it is no known verb
  std::string target_or_reason_;
};

}  // namespace sluice::http
