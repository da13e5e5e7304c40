// qos/http-cache's rules and store, directly: freshness as gregjones/httpcache computes it (the
// library KrakenD's cache is), HTTP dates, and the LRU bounds.

#include "gateway/components/qos/httpcache/cache.h"

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace sluice::components::httpcache {
namespace {

namespace bhttp = boost::beast::http;

const absl::Time kDate = absl::FromUnixSeconds(1700000000);  // Tue, 14 Nov 2023 22:13:20 GMT
constexpr char kDateText[] = "Tue, 14 Nov 2023 22:13:20 GMT";

Entry With(std::initializer_list<std::pair<bhttp::field, std::string>> headers) {
  Entry e;
  e.status = 200;
  for (const auto& [f, v] : headers) e.headers.insert(f, v);
  e.Derive();
  return e;
}

backend::Fields Request(std::string cache_control = "") {
  backend::Fields f;
  if (!cache_control.empty()) f.set(bhttp::field::cache_control, cache_control);
  return f;
}

TEST(HttpDateTest, ReadsTheThreeFormsHttpAllows) {
  EXPECT_EQ(ParseHttpDate(kDateText), kDate);
  EXPECT_EQ(ParseHttpDate("Tuesday, 14-Nov-23 22:13:20 GMT"), kDate);
  EXPECT_EQ(ParseHttpDate("Tue Nov 14 22:13:20 2023"), kDate);
  EXPECT_EQ(ParseHttpDate("yesterday"), std::nullopt);
  EXPECT_EQ(ParseHttpDate(""), std::nullopt);
}

TEST(FreshnessTest, MaxAgeBeatsExpiresAndNoDateIsStale) {
  const Entry max_age = With({{bhttp::field::date, kDateText},
                              {bhttp::field::cache_control, "max-age=10"},
                              {bhttp::field::expires, "Tue, 14 Nov 2023 23:13:20 GMT"}});
  EXPECT_EQ(FreshnessOf(max_age, Request(), kDate + absl::Seconds(9)), Freshness::kFresh);
  EXPECT_EQ(FreshnessOf(max_age, Request(), kDate + absl::Seconds(10)), Freshness::kStale);
  const Entry expires = With(
      {{bhttp::field::date, kDateText}, {bhttp::field::expires, "Tue, 14 Nov 2023 22:13:50 GMT"}});
  EXPECT_EQ(FreshnessOf(expires, Request(), kDate + absl::Seconds(29)), Freshness::kFresh);
  EXPECT_EQ(FreshnessOf(expires, Request(), kDate + absl::Seconds(31)), Freshness::kStale);
  const Entry no_date = With({{bhttp::field::cache_control, "max-age=1000"}});
  EXPECT_EQ(FreshnessOf(no_date, Request(), kDate), Freshness::kStale);
  const Entry nothing = With({{bhttp::field::date, kDateText}});
  EXPECT_EQ(FreshnessOf(nothing, Request(), kDate), Freshness::kStale);
  // public, private and s-maxage are not read (as the library KrakenD uses).
  const Entry shared = With({{bhttp::field::date, kDateText},
                             {bhttp::field::cache_control, "private, s-maxage=0, max-age=5"}});
  EXPECT_EQ(FreshnessOf(shared, Request(), kDate + absl::Seconds(1)), Freshness::kFresh);
}

TEST(FreshnessTest, TheForwardedRequestsCacheControlCounts) {
  const Entry e =
      With({{bhttp::field::date, kDateText}, {bhttp::field::cache_control, "max-age=10"}});
  const absl::Time now = kDate + absl::Seconds(5);
  EXPECT_EQ(FreshnessOf(e, Request("no-cache"), now), Freshness::kTransparent);
  EXPECT_EQ(FreshnessOf(e, Request("max-age=2"), now), Freshness::kStale);
  EXPECT_EQ(FreshnessOf(e, Request("min-fresh=6"), now), Freshness::kStale);
  EXPECT_EQ(FreshnessOf(e, Request("max-stale"), kDate + absl::Hours(1)), Freshness::kFresh);
  EXPECT_EQ(FreshnessOf(e, Request("max-stale=20"), kDate + absl::Seconds(25)), Freshness::kFresh);
  EXPECT_EQ(FreshnessOf(e, Request("only-if-cached"), kDate + absl::Hours(1)), Freshness::kFresh);
  const Entry revalidate =
      With({{bhttp::field::date, kDateText}, {bhttp::field::cache_control, "no-cache"}});
  EXPECT_EQ(FreshnessOf(revalidate, Request(), kDate), Freshness::kStale);
}

TEST(AgeTest, CountsFromTheDateOrFromWhenStored) {
  Entry e = With({{bhttp::field::date, kDateText}});
  EXPECT_EQ(AgeOf(e, kDate + absl::Seconds(42)), 42);
  EXPECT_EQ(AgeOf(e, kDate - absl::Seconds(5)), 0);  // a backend clock ahead of ours
  Entry undated;
  undated.stored = kDate;
  EXPECT_EQ(AgeOf(undated, kDate + absl::Seconds(3)), 3);
}

EntryPtr Sized(size_t size) {
  auto e = std::make_shared<Entry>();
  e->size = size;
  return e;
}

TEST(StoreTest, EvictsTheLeastRecentlyUsedToHoldBothBounds) {
  Store store(/*max_items=*/3, /*max_size=*/1000);
  store.Put("a", Sized(100));
  store.Put("b", Sized(100));
  store.Put("c", Sized(100));
  ASSERT_NE(store.Get("a"), nullptr);  // a is now the most recent
  store.Put("d", Sized(100));          // four items: b goes
  EXPECT_EQ(store.Get("b"), nullptr);
  EXPECT_NE(store.Get("a"), nullptr);
  EXPECT_EQ(store.items(), 3u);
  store.Put("e", Sized(900));  // bytes: 300 + 900 > 1000, so the oldest go until it fits
  EXPECT_LE(store.bytes(), 1000u);
  EXPECT_NE(store.Get("e"), nullptr);
  store.Put("huge", Sized(1000));  // an entry as large as the cache is never stored
  EXPECT_EQ(store.Get("huge"), nullptr);
}

TEST(StoreTest, ReplacingAnEntryCountsOnlyTheNewSize) {
  Store store(/*max_items=*/3, /*max_size=*/1000);
  store.Put("e", Sized(900));
  store.Put("e", Sized(10));
  EXPECT_EQ(store.items(), 1u);
  EXPECT_EQ(store.bytes(), 10u);
}

TEST(StoreTest, MemoryStaysBoundedUnderAMillionDistinctKeys) {
  Store store(/*max_items=*/1000, /*max_size=*/1 << 20);
  for (int i = 0; i < 1000000; ++i) store.Put("http://h/items/" + std::to_string(i), Sized(600));
  EXPECT_EQ(store.items(), 1000u);
  EXPECT_LE(store.bytes(), 1u << 20);
  EXPECT_NE(store.Get("http://h/items/999999"), nullptr);
  EXPECT_EQ(store.Get("http://h/items/0"), nullptr);
}

TEST(StoreTest, SharedStoreIsOnePerProcess) {
  std::shared_ptr<Store> a = Store::Shared(10, 4096);
  std::shared_ptr<Store> b = Store::Shared(99, 99999);  // the first creator's limits stay
  EXPECT_EQ(a, b);
  a->Put("k", Sized(10));
  EXPECT_NE(b->Get("k"), nullptr);
}

}  // namespace
}  // namespace sluice::components::httpcache
