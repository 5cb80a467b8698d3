#include "format/slot_tail.hpp"

#include <cstring>
#include <vector>

#include "blackbox/detail/record.hpp"
#include "format/slot_drain.hpp"

namespace blackbox::ring {

SlotTail read_slot_tail(const std::byte* slot_data, const Layout& layout,
                        const std::atomic<std::uint64_t>& write_pos, std::uint64_t w) {
  SlotTail out;
  if (w == 0 || w > kMaxStreamPosition) return out;
  const std::uint64_t block = (w - 1) & ~std::uint64_t{layout.block_bytes - 1};
  // racy_copy moves whole 8-byte words: a write position that is not a multiple of 8 (a
  // damaged file's) is rounded up, which stays inside the block (block_bytes is a multiple
  // of 8); only the first w - block bytes are looked at.
  const auto used = static_cast<std::size_t>(w - block);
  std::vector<std::byte> copy((used + 7) & ~std::size_t{7});
  // The producer may be writing these bytes now (the process's own budget reads its live
  // rings): a torn copy is caught by the re-check below.
  racy_copy(copy.data(), slot_data + (block & (layout.ring_bytes - 1)), copy.size());
  copy.resize(used);
  // Acquire: the copy is done before the position is read again (a position that moved by
  // less than a lap means the block was not reused while it was copied).
  std::atomic_thread_fence(std::memory_order_acquire);
  const std::uint64_t again = write_pos.load(std::memory_order_acquire);
  if (copy.size() < sizeof out.header) return out;
  std::memcpy(&out.header, copy.data(), sizeof out.header);
  out.has_header = true;
  out.intact = out.header.position == block && again - block < layout.ring_bytes;
  if (!out.intact) return out;
  std::uint64_t n = 0;
  std::size_t at = sizeof out.header;
  while (at + sizeof(detail::RecordHeader) <= copy.size()) {
    std::uint32_t size;
    std::memcpy(&size, copy.data() + at, sizeof size);
    if (size < sizeof(detail::RecordHeader) || size > copy.size() - at) break;
    ++n;
    at += (size + detail::kRecordAlign - 1) & ~std::size_t{detail::kRecordAlign - 1};
  }
  out.logged = out.header.first_seq + n;
  return out;
}

}  // namespace blackbox::ring
