// The metrics region of a ring file (format version 3): the application's metrics
// (blackbox/metrics.hpp), where anyone who may read the ring file reads them, live or after
// the process died. docs/format.md, "Metrics region", is its specification.
//
//  region offset 0       4 KiB                                  (page aligned)
//  +-----------------+------------------------------+---------------------------------------+
//  | MetricsHeader   | MetricEntry x cells          | stripe 0 | stripe 1 | ... | stripe N    |
//  | (one page)      | (256 B each; append only)    | cells x 8 B each, N = slot count      |
//  +-----------------+------------------------------+---------------------------------------+
//
// A metric owns the same run of cells [cell, cell + cells) in every stripe. Stripe 0 is
// shared: gauges and text metrics live there only, and counters and histograms are added
// there (atomic read-modify-write) by threads that have no slot. Stripe s + 1 belongs to slot
// s: only the thread that owns the slot writes it, with plain relaxed stores, so threads never
// share a cache line; a slot's next owner goes on adding to the same cells. A value is the sum
// of its cells over the stripes. The table has room for as many entries as a stripe has cells
// (every metric takes at least one cell), so the table cannot fill before the cells do.
//
// Cells by kind:
//   counter    1: the count
//   gauge      1: the value (int64, two's complement)
//   text       8: a sequence word (odd while written; the writers serialise in the process)
//                 then 56 bytes of text, NUL-padded
//   histogram  1 + 1639: the sum of the values, then one count per log-linear bin
//                 (blackbox/log_histogram.hpp); the count is the sum of the bins
//
// Memory ordering:
//  - MetricsHeader::defined: release after an entry is written, acquire by readers before
//    reading entries below it (the entries are append only and never change afterwards).
//  - Cells: relaxed. A reader's values are not one instant's (each cell is current when read).
//  - Text: a seqlock (release fence after making the sequence odd and before making it even
//    again; a reader copies, then checks the sequence was even and unchanged).
// Nothing here is trusted by readers: counts are bounded by the region, strings by the entry.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "blackbox/log_histogram.hpp"
#include "blackbox/metric_values.hpp"

namespace blackbox::ring {

inline constexpr char kMetricsMagic[8] = {'B', 'B', 'X', 'M', 'E', 'T', 'R', '\0'};
inline constexpr std::uint32_t kMetricEntryBytes = 256;
inline constexpr std::uint32_t kMetricTextBytes = 240;  // name + tags + help
inline constexpr std::uint32_t kMetricNameMax = 96;     // bytes of a name
inline constexpr std::uint32_t kMetricTagsMax = 128;    // bytes of the encoded tags
inline constexpr std::uint32_t kTextMetricCells = 8;    // sequence + 56 bytes
inline constexpr std::uint32_t kTextMetricBytes = 56;
inline constexpr std::uint32_t kHistogramCells = 1 + log_bins::kCount;  // sum + bins
inline constexpr std::uint64_t kMetricsHeaderBytes = 4096;
inline constexpr std::uint32_t kMetricCellsMin = 512;  // one page per stripe
inline constexpr std::uint32_t kMetricCellsMax = 1u << 20;

struct MetricsHeader {
  char magic[8];
  std::uint32_t entry_bytes;  // kMetricEntryBytes
  std::uint32_t cells;        // per stripe (a multiple of 512); also the table's capacity
  std::uint32_t stripes;      // slot count + 1
  std::uint32_t reserved0;
  std::uint64_t table_offset;          // from the region's start
  std::uint64_t stripes_offset;        // from the region's start
  std::atomic<std::uint32_t> defined;  // entries written; release after each
  std::uint32_t reserved1;
  // Updates that could not be stored, and declarations refused (MetricsSnapshot).
  std::atomic<std::uint64_t> updates_lost;
  std::atomic<std::uint64_t> declarations_refused;
};
static_assert(sizeof(MetricsHeader) == 64);

// Tags are encoded "key=value" joined by '\n' (keys have no '=', values no control
// characters), sorted by key.
struct MetricEntry {
  std::uint8_t kind;  // MetricKind
  std::uint8_t unit;  // MetricUnit
  std::uint16_t name_len;
  std::uint16_t tags_len;
  std::uint16_t help_len;
  std::uint32_t cell;           // first cell in every stripe
  std::uint32_t cells;          // how many (by kind, above)
  char text[kMetricTextBytes];  // name, then tags, then help; not NUL-terminated
};
static_assert(sizeof(MetricEntry) == kMetricEntryBytes);

[[nodiscard]] constexpr std::uint32_t metric_cells(MetricKind kind) noexcept {
  switch (kind) {
    case MetricKind::counter:
    case MetricKind::gauge:
      return 1;
    case MetricKind::text:
      return kTextMetricCells;
    case MetricKind::histogram:
      return kHistogramCells;
  }
  return 0;
}

constexpr std::uint64_t metrics_table_bytes(std::uint32_t cells) {
  return (std::uint64_t{cells} * kMetricEntryBytes + 4095) / 4096 * 4096;
}
constexpr std::uint64_t metrics_stripe_bytes(std::uint32_t cells) {
  return std::uint64_t{cells} * 8;
}
constexpr std::uint64_t metrics_region_bytes(std::uint32_t cells, std::uint32_t slots) {
  return kMetricsHeaderBytes + metrics_table_bytes(cells) +
         (std::uint64_t{slots} + 1) * metrics_stripe_bytes(cells);
}

// Fills a new region's header (before the ring file's magic is written).
void init_metrics_header(std::byte* region, std::uint32_t cells, std::uint32_t slots) noexcept;

// The encoded tags of `tags` (sorted by key), or "" if they are not valid: keys are
// [A-Za-z_][A-Za-z0-9_.]*, values are UTF-8 without control characters, at most
// kMetricTagsMax bytes in all. `error` says what is wrong.
[[nodiscard]] bool encode_metric_tags(std::vector<MetricTag> tags, std::string& encoded,
                                      std::string& error);
[[nodiscard]] std::vector<MetricTag> decode_metric_tags(std::string_view encoded);
// A metric name: [A-Za-z_][A-Za-z0-9_.:-]*, at most kMetricNameMax bytes.
[[nodiscard]] bool valid_metric_name(std::string_view name) noexcept;

// Writes entry number `index` (< the header's cells) and publishes it. The caller serialises
// (the process's metric registry).
void write_metric_entry(std::byte* region, std::uint32_t index, MetricKind kind, MetricUnit unit,
                        std::string_view name, std::string_view encoded_tags, std::string_view help,
                        std::uint32_t cell) noexcept;

// Reads every metric of the region: `region` and `region_bytes` as mapped (live or an image),
// `stripe_in_use(s)` whether stripe s (> 0) may hold values (its slot was ever owned: others
// are not read, so a reader does not touch pages nobody wrote). False with `error` set if the
// region's header is damaged.
[[nodiscard]] bool read_metrics_region(const std::byte* region, std::uint64_t region_bytes,
                                       std::uint32_t slots, const std::vector<bool>& slot_in_use,
                                       MetricsSnapshot& out, std::string& error);

// A cell read by anyone but its writer (relaxed: values need no ordering among themselves).
[[nodiscard]] inline std::uint64_t load_cell(const std::uint64_t& cell) noexcept {
  return std::atomic_ref<const std::uint64_t>(cell).load(std::memory_order_relaxed);
}

// A counter's or a histogram's value: its cells from `cell` on, summed over `stripes` (the
// shared one and those of slots ever owned).
[[nodiscard]] std::uint64_t sum_counter(std::span<const std::uint64_t* const> stripes,
                                        std::uint32_t cell) noexcept;
[[nodiscard]] LogHistogram sum_histogram(std::span<const std::uint64_t* const> stripes,
                                         std::uint32_t cell) noexcept;

// The text metric's cells: reads a consistent value (false if the writer was mid-update
// several times in a row), and the writer's side.
[[nodiscard]] bool read_text_cells(const std::uint64_t* cells, std::string& out) noexcept;
void write_text_cells(std::uint64_t* cells, std::string_view text) noexcept;

}  // namespace blackbox::ring
