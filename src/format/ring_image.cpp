// Reading a ring file into private memory (ring_image.hpp).
#include "format/ring_image.hpp"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "format/ring_validate.hpp"
#include "sys/calendar.hpp"

namespace blackbox::ring {
namespace {

// Reads [offset, offset + bytes) of the file into the same offset of `base`. "" or why not.
std::string read_at(int fd, std::byte* base, std::uint64_t offset, std::uint64_t bytes) {
  std::uint64_t done = 0;
  while (done < bytes) {
    const ssize_t n =
        pread(fd, base + offset + done, bytes - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::string("cannot read: ") + sys::error_text(errno);
    if (n == 0) {
      return "truncated while being read (ends before byte " + std::to_string(offset + bytes) + ")";
    }
    done += static_cast<std::uint64_t>(n);
  }
  return {};
}

// The metrics region (version 3; slot headers already read): its header, the entries
// defined, the shared stripe, and the stripes of slots that were ever owned (the others are
// zeros, as in the file). "" or why not.
std::string read_metrics(int fd, RingImage& image) {
  const Layout& l = image.layout;
  if (l.metrics_bytes == 0) return {};
  if (std::string e = read_at(fd, image.base, l.metrics_offset, kMetricsHeaderBytes); !e.empty()) {
    return e;
  }
  const auto& h = *reinterpret_cast<const MetricsHeader*>(image.base + l.metrics_offset);
  const std::uint64_t entries = std::min(h.defined.load(std::memory_order_relaxed), l.metric_cells);
  if (std::string e = read_at(fd, image.base, l.metrics_offset + kMetricsHeaderBytes,
                              entries * kMetricEntryBytes);
      !e.empty()) {
    return e;
  }
  const std::uint64_t stripes =
      l.metrics_offset + kMetricsHeaderBytes + metrics_table_bytes(l.metric_cells);
  const std::uint64_t stripe = metrics_stripe_bytes(l.metric_cells);
  for (std::uint32_t s = 0; s <= l.slot_count; ++s) {
    if (s > 0) {
      const auto& slot = *reinterpret_cast<const SlotHeader*>(
          image.base + l.slot_headers_offset + std::uint64_t{s - 1} * sizeof(SlotHeader));
      if (slot.owners.load(std::memory_order_relaxed) == 0) continue;
    }
    if (std::string e = read_at(fd, image.base, stripes + s * stripe, stripe); !e.empty()) {
      return e;
    }
  }
  return {};
}

}  // namespace

bool read_ring_image(int fd, std::size_t file_size, RingImage& out, std::string& error) {
  out = RingImage{};
  if (file_size < kPageBytes) {
    error = "too small to be a ring file (" + std::to_string(file_size) + " bytes)";
    return false;
  }
  // Untouched pages of an anonymous mapping cost nothing: a sparse 256 MiB ring with two
  // threads' rings in use costs two rings of memory.
  void* mem = mmap(nullptr, file_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) {
    error = std::string("cannot allocate memory to read it: ") + sys::error_text(errno);
    return false;
  }
  RingImage image{static_cast<std::byte*>(mem), file_size, {}};
  auto fail = [&](std::string why) {
    error = std::move(why);
    free_ring_image(image);
    return false;
  };
  if (std::string e = read_at(fd, image.base, 0, kPageBytes); !e.empty()) return fail(e);
  std::string why;
  if (!validate_header(image.base, file_size, image.layout, why)) return fail(why);
  const Layout& l = image.layout;
  const auto& h = *reinterpret_cast<const RingHeader*>(image.base);
  // The control region (version 2): the process's telemetry and levels as it left them.
  if (std::string e = read_at(fd, image.base, l.control_offset, l.control_bytes); !e.empty()) {
    return fail(e);
  }
  const std::uint64_t sites = std::min<std::uint64_t>(
      h.site_table_used.load(std::memory_order_relaxed), l.site_table_bytes);
  if (std::string e = read_at(fd, image.base, l.site_table_offset, sites); !e.empty()) {
    return fail(e);
  }
  if (std::string e = read_at(fd, image.base, l.slot_headers_offset,
                              std::uint64_t{l.slot_count} * sizeof(SlotHeader));
      !e.empty()) {
    return fail(e);
  }
  if (std::string e = read_metrics(fd, image); !e.empty()) return fail(e);
  for (std::uint32_t i = 0; i < l.slot_count; ++i) {
    const auto& slot = *reinterpret_cast<const SlotHeader*>(image.base + l.slot_headers_offset +
                                                            std::uint64_t{i} * sizeof(SlotHeader));
    const std::uint64_t w = slot.write_pos.load(std::memory_order_relaxed);
    if (w == 0) continue;  // never written: zeros, as in the file
    // The bytes below the write position, up to a whole ring (it may have wrapped).
    const std::uint64_t bytes = std::min<std::uint64_t>(
        l.ring_bytes, (w + l.block_bytes - 1) & ~std::uint64_t{l.block_bytes - 1});
    if (std::string e =
            read_at(fd, image.base, l.slot_data_offset + std::uint64_t{i} * l.ring_bytes, bytes);
        !e.empty()) {
      return fail(e);
    }
  }
  out = image;
  return true;
}

void free_ring_image(RingImage& image) noexcept {
  if (image.base != nullptr) munmap(image.base, image.size);
  image = RingImage{};
}

}  // namespace blackbox::ring
