// gateway/common/strings.h: the helpers whose fast paths take different branches by length.

#include "gateway/common/strings.h"

#include <string>

#include "gtest/gtest.h"

namespace sluice {
namespace {

// Fields and the HTTP/1.1 head writer copy names and values with CopyBytes, whose short lengths
// take different paths: every length up to past the memcpy cut-off, from an odd offset, with the
// bytes around the copy untouched.
TEST(StringsTest, CopyBytesCopiesEveryLengthAndNothingElse) {
  std::string source(80, '\0');
  for (size_t i = 0; i < source.size(); ++i) source[i] = static_cast<char>('!' + i);
  for (size_t n = 0; n <= 70; ++n) {
    std::string out(n + 16, '#');
    CopyBytes(out.data() + 8, source.data() + 3, n);
    EXPECT_EQ(out.substr(0, 8), "########") << n;
    EXPECT_EQ(out.substr(8, n), source.substr(3, n)) << n;
    EXPECT_EQ(out.substr(8 + n), "########") << n;
  }
}

TEST(StringsTest, CopyBytesOfNothingTouchesNeitherPointer) {
  CopyBytes(nullptr, nullptr, 0);  // UBSan (the ASan run) would flag a null memcpy
  std::string out = "ab";
  CopyBytes(out.data(), nullptr, 0);
  EXPECT_EQ(out, "ab");
}

}  // namespace
}  // namespace sluice
