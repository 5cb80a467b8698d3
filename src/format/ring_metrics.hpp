// Reading the application metrics of a whole ring file (metrics_area.hpp): for the reader of a
// ring (RingReader::metrics) and for the flusher's snapshots.
#pragma once

#include <cstddef>
#include <string>

#include "blackbox/metric_values.hpp"
#include "format/ring_layout.hpp"

namespace blackbox::ring {

// Every metric of the ring file (format version 3) at `base`, mapped or read as an image,
// summed over the shared stripe and the stripes of slots ever owned (the slot headers say
// which). False with `error` set if its metrics region is damaged.
[[nodiscard]] bool read_ring_metrics(const std::byte* base, const Layout& layout,
                                     MetricsSnapshot& out, std::string& error);

}  // namespace blackbox::ring
