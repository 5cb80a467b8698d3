// The archive's metrics frame (FrameType::metrics): every application metric of a process
// (metrics_area.hpp) as the flusher read it from the ring file: every Config::metrics_interval,
// at a rotation (into the file it closes), when the process exits, and when recovery archives a
// dead process's ring. Values are cumulative since the process started (a reader takes rates
// and histogram deltas between snapshots of one process). Each frame stands alone: names, tags
// and help are in every one, so a damaged frame costs only its snapshot. docs/format.md,
// "Frame types", specifies the payload; decode_metrics() trusts nothing in it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "blackbox/metric_values.hpp"
#include "format/telemetry_frame.hpp"

namespace blackbox::archive {

// Appends the payload of a metrics frame.
void encode_metrics(const MetricsSnapshot& s, SnapshotReason reason, std::vector<std::byte>& out);

// False if the payload is malformed (then `out` and `reason` are unspecified).
[[nodiscard]] bool decode_metrics(std::span<const std::byte> payload, MetricsSnapshot& out,
                                  SnapshotReason& reason);

}  // namespace blackbox::archive
