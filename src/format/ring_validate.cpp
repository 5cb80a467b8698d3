#include "format/ring_validate.hpp"

#include <atomic>
#include <cstring>

namespace blackbox::ring {
namespace {

bool is_power_of_two(std::uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

}  // namespace

bool validate_header(const std::byte* base, std::size_t file_size, Layout& layout,
                     std::string& error) {
  if (file_size < kPageBytes) {
    error = "too small to be a ring file (" + std::to_string(file_size) + " bytes)";
    return false;
  }
  const auto& h = *reinterpret_cast<const RingHeader*>(base);
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) {
    error = "not a blackbox ring file (bad magic)";
    return false;
  }
  std::atomic_thread_fence(std::memory_order_acquire);  // invariant 5
  if (h.endian != kEndianMark) {
    error = "written on a machine of the other byte order";
    return false;
  }
  if (h.version < kOldestFormatVersion || h.version > kFormatVersion) {
    error = "ring format version " + std::to_string(h.version) + " (this reader knows " +
            std::to_string(kOldestFormatVersion) + " to " + std::to_string(kFormatVersion) + ")";
    return false;
  }
  const std::uint32_t header_bytes = h.version >= 3 ? sizeof(RingHeader) : kRingHeaderBytesV2;
  if (h.header_bytes != header_bytes || h.slot_header_bytes != sizeof(SlotHeader)) {
    error = "unexpected header sizes";
    return false;
  }
  // Version 3's words past the version 2 header; read only when the version says so.
  const std::uint32_t metric_cells = h.version >= 3 ? h.metric_cells : 0;
  if (h.version >= 3 && (metric_cells < kMetricCellsMin || metric_cells > kMetricCellsMax ||
                         metric_cells % kMetricCellsMin != 0)) {
    error = "metric cells out of range";
    return false;
  }
  if (!is_power_of_two(h.ring_bytes) || h.ring_bytes > (1ull << 30) ||
      !is_power_of_two(h.block_bytes) || h.block_bytes < 4096 || h.block_bytes > h.ring_bytes / 4 ||
      h.slot_count == 0 || h.slot_count > 65536 || h.site_table_bytes > (256ull << 20)) {
    error = "ring geometry out of range";
    return false;
  }
  const Layout expect = compute_layout(h.ring_bytes, h.block_bytes, h.slot_count,
                                       h.site_table_bytes, metric_cells, h.version);
  if (expect.control_offset != h.control_offset || expect.control_bytes != h.control_bytes ||
      (h.version >= 3 &&
       (expect.metrics_offset != h.metrics_offset || expect.metrics_bytes != h.metrics_bytes)) ||
      expect.site_table_offset != h.site_table_offset ||
      expect.site_table_bytes != h.site_table_bytes ||
      expect.slot_headers_offset != h.slot_headers_offset ||
      expect.slot_data_offset != h.slot_data_offset || expect.file_bytes != h.file_bytes) {
    error = "region table does not match the ring geometry";
    return false;
  }
  if (expect.file_bytes > file_size) {
    error = "file is " + std::to_string(file_size) + " bytes but its header says " +
            std::to_string(expect.file_bytes) + " (truncated?)";
    return false;
  }
  layout = expect;
  return true;
}

}  // namespace blackbox::ring
