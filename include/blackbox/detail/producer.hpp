// The calling thread's producer state and the inline fast path of the per-thread ring:
// reserve space for one record, fill it, publish it with one release store.
//
// Memory ordering (the full table is in docs/format.md, "Memory ordering"):
//  - commit(): `published->store(wpos, release)` publishes the record bytes written before
//    it. Pairs with the reader's acquire load of the slot's write position.
//  - Overwriting: before the producer writes into a block it claims it in reserve_slow()
//    (store of the block's start position, then a release fence), so a reader that copied
//    bytes the producer was overwriting sees, after its own acquire fence, a write position
//    that marks those bytes as lost. Records inside an already claimed block need no fence.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#if !defined(__x86_64__)
#include <time.h>
#endif

namespace blackbox::detail {

// All fields are owned by the thread; only `published` points into shared memory.
struct Producer {
  std::byte* data = nullptr;                        // this slot's ring bytes
  std::atomic<std::uint64_t>* published = nullptr;  // the slot's shared write position
  std::uint64_t wpos = 0;       // stream position of the next record (== *published)
  std::uint64_t block_end = 0;  // stream position where the current block ends
  std::uint64_t mask = 0;       // ring bytes - 1
  std::uint64_t seq = 0;        // records written into this slot's stream so far
  // Application metrics (blackbox/metrics.hpp): this slot's stripe of cells and the shared
  // one, and how many cells a stripe has; 0 until the thread has a slot, so that one compare
  // of a metric's cells against it both checks the metric has room and sends an unattached
  // thread to the slow path.
  std::uint64_t* metric_cells = nullptr;
  std::uint64_t* metric_shared = nullptr;
  // Per-string truncation limit. No limit until the thread attaches: the first record with
  // strings takes the max_record == 0 path below, which attaches and then applies it.
  std::uint32_t max_string = 0x7fff'ffff;
  std::uint32_t max_record = 0;  // largest record that fits in a block; 0: not attached
  std::uint32_t slot = 0;
  // Trace context, kept in the form the hot path adds and ORs in without branching:
  // trace_bytes is 0 or 24, trace_header_bits 0 or kSiteHasTrace << 32.
  std::uint32_t trace_bytes = 0;
  std::uint32_t metric_limit = 0;
  std::uint64_t trace_header_bits = 0;
  std::uint8_t trace_flags = 0;  // W3C trace-flags byte (not recorded; kept for propagation)
  bool exited = false;           // the thread is exiting: drop (and count) instead of logging
  alignas(8) std::uint8_t trace[24] = {};  // trace id (16) + span id (8), as on the wire
};

#if defined(__GNUC__)
#define BBX_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define BBX_TLS_MODEL
#endif

// constinit + trivially destructible: the hot path reads it through %fs with no init guard.
extern thread_local constinit Producer tls_producer BBX_TLS_MODEL;

// Out of line, once per thread: initialises the logger if needed and gives the thread a
// slot. Returns false (and counts the record as dropped) if the thread has no slot: every
// slot is taken, or the thread is exiting.
[[nodiscard]] bool attach_producer(Producer& p) noexcept;

// Out of line, once per block, for an attached thread: pads out the current block and
// claims the next one. Returns where the next record starts (room for p.max_record bytes).
[[nodiscard]] std::byte* reserve_slow(Producer& p) noexcept;

// Publishes the record that ends at stream position `end`.
inline void commit(Producer& p, std::atomic<std::uint64_t>* published, std::uint64_t end) noexcept {
  p.wpos = end;
  ++p.seq;
  // Release: the record's bytes are visible before its position. Pairs with the reader's
  // acquire load of the write position (src/reader/ring_reader.cpp, "read_slot").
  published->store(end, std::memory_order_release);
}

// Raw clock ticks for a record: the TSC on x86-64 (calibrated in the ring header),
// CLOCK_MONOTONIC nanoseconds elsewhere.
[[nodiscard]] inline std::uint64_t now_ticks() noexcept {
#if defined(__x86_64__)
  // The builtin, not <x86intrin.h>: that header pulls every SIMD intrinsic into each
  // translation unit that logs (compile time), for one instruction.
  return __builtin_ia32_rdtsc();
#else
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
#endif
}

}  // namespace blackbox::detail
