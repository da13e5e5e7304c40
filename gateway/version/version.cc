#include "gateway/version/version.h"

namespace sluice::version {

const char* GitRevisionString();  // generated: revision.cc

namespace {
constexpr std::string_view kVersion = "0.1.0";
constexpr std::string_view kUserAgent = "Sluice Version 0.1.0";
}  // namespace

std::string_view Version() { return kVersion; }
std::string_view GitRevision() { return GitRevisionString(); }
std::string_view UserAgent() { return kUserAgent; }

}  // namespace sluice::version
