#include "gateway/encoding/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace sluice::encoding {
namespace {

TEST(DecodeUtf8Test, DecodesEachLength) {
  struct Case {
    std::string bytes;
    char32_t cp;
  };
  for (const Case& c : {Case{"A", U'A'}, Case{"\xC3\xA9", 0xE9}, Case{"\xE2\x82\xAC", 0x20AC},
                        Case{"\xF0\x9F\x98\x80", 0x1F600}, Case{std::string(1, '\0'), 0},
                        Case{"\xF4\x8F\xBF\xBF", 0x10FFFF}}) {
    char32_t cp = 0xFFFFFFFF;
    EXPECT_EQ(DecodeUtf8(c.bytes, 0, &cp), c.bytes.size());
    EXPECT_EQ(cp, c.cp);
  }
}

TEST(DecodeUtf8Test, RejectsInvalidSequences) {
  for (const char* bytes : {
           "\x80",              // continuation without a lead
           "\xC3",              // truncated
           "\xC3\x28",          // bad continuation
           "\xC0\xAF",          // overlong '/'
           "\xE0\x80\xAF",      // overlong
           "\xED\xA0\x80",      // surrogate U+D800
           "\xF4\x90\x80\x80",  // above U+10FFFF
           "\xF8\x88\x80\x80",  // 5-byte form
           "\xFF",
       }) {
    char32_t cp = 0;
    EXPECT_EQ(DecodeUtf8(bytes, 0, &cp), 0u) << testing::PrintToString(std::string(bytes));
  }
}

TEST(AppendUtf8Test, RoundTrips) {
  for (char32_t cp : {char32_t{0}, char32_t{0x7F}, char32_t{0x80}, char32_t{0x7FF}, char32_t{0x800},
                      char32_t{0xFFFD}, char32_t{0x10000}, char32_t{0x10FFFF}}) {
    std::string out;
    AppendUtf8(cp, &out);
    char32_t back = 0;
    ASSERT_EQ(DecodeUtf8(out, 0, &back), out.size());
    EXPECT_EQ(back, cp);
  }
  std::string euro;
  AppendUtf8(0x20AC, &euro);
  EXPECT_EQ(euro, "\xE2\x82\xAC");
}

}  // namespace
}  // namespace sluice::encoding
