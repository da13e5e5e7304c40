#pragma once

// The socket and timer types every worker's objects use (the HTTP front, the REST and gRPC
// backend clients). They are bound to the io_context's concrete executor type: the type-erased
// any_io_executor costs a copy and a destroy per asynchronous operation.

#include <chrono>

#include "boost/asio/basic_stream_socket.hpp"
#include "boost/asio/basic_waitable_timer.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"

namespace sluice::http {

using Executor = boost::asio::io_context::executor_type;
using Socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>;
using Timer = boost::asio::basic_waitable_timer<
    std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;

}  // namespace sluice::http
