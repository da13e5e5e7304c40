#pragma once

// An HTTP/1 parser filling a message with Sluice's Fields (gateway/http/fields.h): Beast's
// basic_parser does the parsing and checks the limits; this stores what it finds, as Beast's
// parser<isRequest, string_body> does for basic_fields. It works with Beast's read algorithms
// (async_read_header, async_read_some), which take any basic_parser. One parser per message.

#include <cstdint>
#include <string>
#include <utility>

#include "boost/beast/http/basic_parser.hpp"
#include "boost/beast/http/error.hpp"
#include "boost/beast/http/message.hpp"
#include "boost/beast/http/string_body.hpp"
#include "boost/optional/optional.hpp"
#include "gateway/http/fields.h"

namespace sluice::http {

template <bool isRequest>
class MessageParser : public boost::beast::http::basic_parser<isRequest> {
 public:
  using Message = boost::beast::http::message<isRequest, boost::beast::http::string_body, Fields>;
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;

  MessageParser() = default;

  Message& get() { return m_; }
  const Message& get() const { return m_; }
  // The message, moved out: the parser is done with it.
  Message release() { return std::move(m_); }

 private:
  void on_request_impl(boost::beast::http::verb method, string_view method_str, string_view target,
                       int version, error_code& ec) override {
    if constexpr (isRequest) {
      m_.target(target);
      if (method != boost::beast::http::verb::unknown) {
        m_.method(method);
      } else {
        m_.method_string(method_str);
      }
      m_.version(static_cast<unsigned>(version));
    }
    ec = {};
  }

  void on_response_impl(int code, string_view reason, int version, error_code& ec) override {
    if constexpr (!isRequest) {
      m_.result(static_cast<unsigned>(code));
      m_.version(static_cast<unsigned>(version));
      m_.reason(reason);
    }
    ec = {};
  }

  void on_field_impl(boost::beast::http::field name, string_view name_string, string_view value,
                     error_code& ec) override {
    m_.insert(name, name_string, value);
    ec = {};
  }

  void on_header_impl(error_code& ec) override { ec = {}; }

  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         error_code& ec) override {
    ec = {};
    if (!content_length) return;
    if (*content_length > m_.body().max_size()) {
      ec = boost::beast::http::error::buffer_overflow;
      return;
    }
    // The declared length at once (basic_parser has checked it against body_limit).
    m_.body().reserve(static_cast<std::size_t>(*content_length));
  }

  std::size_t on_body_impl(string_view body, error_code& ec) override {
    ec = {};
    m_.body().append(body.data(), body.size());
    return body.size();
  }

  void on_chunk_header_impl(std::uint64_t, string_view, error_code& ec) override { ec = {}; }

  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code& ec) override {
    ec = {};
    m_.body().append(body.data(), body.size());
    return body.size();
  }

  void on_finish_impl(error_code& ec) override { ec = {}; }

  Message m_;
};

using RequestParser = MessageParser<true>;
using ResponseParser = MessageParser<false>;

}  // namespace sluice::http
