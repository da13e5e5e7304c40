#pragma once

// A table one thread adds to while others read it: slots live in chunks that never move once
// made, so a reader indexes a slot without a lock. It may read only a slot it learnt of after
// the slot was made (through a post to its event loop or a lock, which orders the write before
// the read); a std::vector would move every slot when it grows, under the readers' feet.
//
// Chunks of kChunk slots (default-constructed) are made as they are first needed; kMaxChunks
// bounds the slots, and the table itself is kMaxChunks pointers.

#include <array>
#include <memory>

namespace sluice {

template <class T, int kChunk, int kMaxChunks>
class StableSlots {
 public:
  static constexpr int kCapacity = kChunk * kMaxChunks;

  // Makes the chunk slot `id` falls in, unless it was made before; false past kCapacity. Only
  // the adding thread calls it.
  bool Make(int id) {
    if (id < 0 || id >= kCapacity) return false;
    std::unique_ptr<T[]>& chunk = chunks_[id / kChunk];
    if (chunk == nullptr) chunk = std::make_unique<T[]>(kChunk);
    return true;
  }

  // Slot `id`, in a chunk already made.
  T& operator[](int id) { return chunks_[id / kChunk][id % kChunk]; }
  const T& operator[](int id) const { return chunks_[id / kChunk][id % kChunk]; }

 private:
  std::array<std::unique_ptr<T[]>, kMaxChunks> chunks_;
};

}  // namespace sluice
