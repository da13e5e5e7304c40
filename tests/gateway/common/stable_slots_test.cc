// gateway/common/stable_slots.h: slots stay where they were made while the table grows, which is
// what lets a worker read its slots while a reload adds more.

#include "gateway/common/stable_slots.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace sluice {
namespace {

TEST(StableSlotsTest, SlotsNeverMoveAsChunksAreAdded) {
  StableSlots<std::string, 4, 64> slots;
  ASSERT_TRUE(slots.Make(0));
  slots[0] = "first";
  const std::string* first = &slots[0];
  for (int id = 1; id < decltype(slots)::kCapacity; ++id) {
    ASSERT_TRUE(slots.Make(id)) << id;
    slots[id] = std::to_string(id);
  }
  EXPECT_EQ(&slots[0], first);
  EXPECT_EQ(slots[0], "first");
  EXPECT_EQ(slots[255], "255");
}

TEST(StableSlotsTest, AChunkIsMadeOnceAndOnlyWithinTheCapacity) {
  StableSlots<std::unique_ptr<int>, 8, 2> slots;
  ASSERT_TRUE(slots.Make(9));
  EXPECT_EQ(slots[8], nullptr);  // the same chunk: its slots exist, default-constructed
  slots[9] = std::make_unique<int>(9);
  ASSERT_TRUE(slots.Make(15));  // made before: kept as it was
  ASSERT_NE(slots[9], nullptr);
  EXPECT_EQ(*slots[9], 9);
  EXPECT_FALSE(slots.Make(16));
  EXPECT_FALSE(slots.Make(-1));
}

}  // namespace
}  // namespace sluice
