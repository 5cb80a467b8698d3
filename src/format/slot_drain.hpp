// Draining one slot of a ring while its writer runs (or after it died), without ever
// stopping it. Shared by the RingReader (which decodes records) and the archive flusher
// (which re-encodes them raw), so both count losses the same way.
//
// Per slot, the cursor keeps a read position R and the next expected sequence number:
//   1. W = write_pos (acquire). Bytes before window_start(W) are gone: skip R forward.
//   2. Copy [R, W) out of the shared ring (racy_copy: the writer may be overwriting it).
//   3. Acquire fence, then W2 = write_pos (relaxed). Bytes of the copy before
//      window_start(W2) may have been overwritten while we copied: discard them.
//   4. Parse what is left from the private copy; block headers carry sequence numbers, so
//      every gap (overwritten, discarded or damaged) is counted as exact lost records.
//
// Memory ordering: step 1 pairs with the producer's release store in commit() (record
// bytes visible before their position); steps 2-3 are the seqlock reader protocol paired
// with the claim in reserve_slow() (store of the block start, release fence, then the
// overwriting stores).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "blackbox/detail/record.hpp"
#include "format/ring_layout.hpp"
#include "sys/sanitizers.hpp"

namespace blackbox::ring {

// Copies bytes the writer may be overwriting at this moment. Whatever a torn copy holds is
// discarded by the caller's re-check of the write position (step 3), so the race is benign
// by construction (like the kernel's data_race() around seqlock reads). Under
// ThreadSanitizer the copy is volatile word loads in an uninstrumented function, so the
// sanitizer does not report this intended race (it would intercept memcpy); otherwise
// 64-byte vector moves, several times faster.
__attribute__((no_sanitize("thread"))) inline void racy_copy(std::byte* dst, const std::byte* src,
                                                             std::size_t bytes) {
#ifdef BLACKBOX_TSAN
  auto* d = reinterpret_cast<std::uint64_t*>(dst);
  const auto* s = reinterpret_cast<const volatile std::uint64_t*>(src);
  for (std::size_t i = 0; i < bytes / 8; ++i) d[i] = s[i];
#else
  // 64 bytes per step (vector moves), not memcpy: for copies this large glibc uses
  // `rep movsb`, which callgrind counts one instruction per byte; the empty asm keeps the
  // compiler from turning the loop back into a memcpy call.
  std::size_t i = 0;
  for (; i + 64 <= bytes; i += 64) {
    __builtin_memcpy(dst + i, src + i, 64);
    asm volatile("" ::: "memory");
  }
  for (; i < bytes; i += 8) __builtin_memcpy(dst + i, src + i, 8);
#endif
}

struct SlotCursor {
  std::uint64_t read_pos = 0;
  std::uint64_t next_seq = 0;
  bool started = false;   // a block header has been seen
  bool in_block = false;  // read_pos is inside a block whose header we read
  std::uint32_t tid = 0;
  char thread_name[16] = {};  // NUL-padded, from the current block's header
};

// What a drain reports. `record` returns false if it could not use the record (counted as a
// corrupt loss). `lost` receives every loss with the thread it belonged to.
//   struct Visitor {
//     bool record(const std::byte* bytes, std::uint32_t size, std::uint64_t position,
//                 const SlotCursor& cursor);  // cursor.next_seq is the record's sequence
//     void lost(std::uint32_t tid, std::uint64_t records, std::uint64_t bytes,
//               std::uint64_t corrupt_bytes);
//   };
// `copy` must hold layout.ring_bytes bytes. Returns the number of records delivered.
template <typename Visitor>
std::size_t drain_slot(const ring::SlotHeader& slot, const std::byte* data,
                       const ring::Layout& layout, SlotCursor& c, std::vector<std::byte>& copy,
                       Visitor& visitor) {
  const std::uint64_t ring_bytes = layout.ring_bytes;
  const std::uint64_t block = layout.block_bytes;
  // Step 1. Acquire: pairs with the producer's release in commit()/reserve_slow().
  const std::uint64_t w = slot.write_pos.load(std::memory_order_acquire) & ~std::uint64_t{7};
  // Nothing new. (read_pos can be past w only after skipping a damaged block's tail.)
  if (w <= c.read_pos) return 0;
  // A position no writer can reach (2^62 bytes would take centuries) is damage; refusing it
  // also keeps every position sum below from wrapping around.
  if (w > ring::kMaxStreamPosition) [[unlikely]] {
    return 0;
  }
  std::uint64_t r = c.read_pos;
  const std::uint64_t lo = ring::window_start(w, ring_bytes, block);
  if (r < lo) {
    if (c.started) visitor.lost(c.tid, 0, lo - r, 0);
    r = lo;
    c.in_block = false;
  }
  // Step 2: copy [r, w), at most one wrap.
  const std::uint64_t n = w - r;
  const std::uint64_t first = std::min(n, ring_bytes - (r & (ring_bytes - 1)));
  racy_copy(copy.data(), data + (r & (ring_bytes - 1)), first);
  racy_copy(copy.data() + first, data, n - first);
  // Step 3. Pairs with the release fence after the claim in reserve_slow().
  std::atomic_thread_fence(std::memory_order_acquire);
  const std::uint64_t w2 = slot.write_pos.load(std::memory_order_relaxed);
  std::uint64_t p = r;
  const std::uint64_t lo2 = ring::window_start(w2, ring_bytes, block);
  if (p < lo2) {
    if (c.started) visitor.lost(c.tid, 0, std::min(lo2, w) - p, 0);
    p = std::min(lo2, w);
    c.in_block = false;
  }
  // Step 4: parse the private copy.
  auto at = [&](std::uint64_t pos) { return copy.data() + (pos - r); };
  // Damage: give up on the rest of the block (the next block header's sequence number
  // then counts the records skipped) and account the bytes.
  auto skip_damaged = [&](std::uint64_t block_end) {
    const std::uint64_t skipped = std::min(block_end, w) - p;
    visitor.lost(c.tid, 0, skipped, skipped);
    p = block_end;
    c.in_block = false;
  };
  std::size_t delivered = 0;
  while (p < w) {
    const std::uint64_t in_block = p & (block - 1);
    const std::uint64_t block_end = p - in_block + block;
    if (in_block == 0 || !c.in_block) {
      if (in_block != 0) {  // mid-block with no header seen: skip to the next block
        visitor.lost(c.tid, 0, std::min(block_end, w) - p, 0);
        p = block_end;
        continue;
      }
      ring::BlockHeader bh;
      if (p + sizeof bh > w) break;  // header not complete yet (cannot happen once published)
      std::memcpy(&bh, at(p), sizeof bh);
      if (bh.position != p) {  // damaged: the sequence check at the next good block counts it
        skip_damaged(block_end);
        continue;
      }
      if (bh.first_seq > c.next_seq || !c.started) {
        const std::uint64_t missed = bh.first_seq - (c.started ? c.next_seq : 0);
        if (missed > 0) visitor.lost(bh.tid, missed, 0, 0);
      }
      c.next_seq = bh.first_seq;
      c.started = true;
      c.in_block = true;
      c.tid = bh.tid;
      std::memcpy(c.thread_name, bh.thread_name, sizeof c.thread_name);
      p += sizeof bh;
      continue;
    }
    if (p + 4 > w) break;
    std::uint32_t record_size;
    std::memcpy(&record_size, at(p), sizeof record_size);
    if (record_size == 0) {  // padding marker: the rest of the block is unused
      p = block_end;
      c.in_block = false;
      continue;
    }
    if (record_size % 8 != 0 || record_size < sizeof(detail::RecordHeader) ||
        p + record_size > block_end || p + record_size > w) {
      skip_damaged(block_end);
      continue;
    }
    if (visitor.record(at(p), record_size, p, c)) {
      ++delivered;
    } else {
      visitor.lost(c.tid, 1, record_size, record_size);
    }
    ++c.next_seq;
    p += record_size;
  }
  c.read_pos = p;
  if ((c.read_pos & (block - 1)) == 0) c.in_block = false;
  return delivered;
}

}  // namespace blackbox::ring
