// How many records a slot's stream holds, counted from the ring itself: the block being
// written names its first record's sequence number, and its records up to the write
// position count the rest. For readers of a live ring (another process's, through its
// file) and for the process's own failure budget (core/loss_budget.cpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "format/ring_layout.hpp"

namespace blackbox::ring {

struct SlotTail {
  bool has_header = false;  // the block's header was copied (`header` is filled)
  bool intact = false;      // and the block was not overwritten while it was read
  BlockHeader header{};
  std::uint64_t logged = 0;  // if intact: records in the slot's stream up to `w`
};

// Copies the block that holds stream position `w - 1` of `slot_data` (w: the write position
// loaded with acquire, 0 < w <= kMaxStreamPosition), then reloads `write_pos` (acquire) to
// tell whether the producer lapped it meanwhile. Nothing in the copy is trusted: record
// sizes are checked against it.
[[nodiscard]] SlotTail read_slot_tail(const std::byte* slot_data, const Layout& layout,
                                      const std::atomic<std::uint64_t>& write_pos, std::uint64_t w);

}  // namespace blackbox::ring
