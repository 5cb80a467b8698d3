// `logcat --trace ID` (and `--span ID`) as text: the trace's records in time order across
// every input, each indented by the depth of its span, each span's start line showing its
// id and its duration, and its end line its name. Other formats print the same records flat.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "blackbox/reader.hpp"
#include "render.hpp"
#include "spans.hpp"

namespace logcat {

// "850 ns", "12.3 µs", "3.21 ms", "1.234 s".

// Appends the view of `records` (one trace, in time order) to `out`: those `shown` passes,
// under a summary line. `only_span`: the view is of that span (and the spans below it).
void render_trace(const std::vector<blackbox::Record>& records, const SpanTree& tree,
                  std::optional<std::uint64_t> only_span,
                  const std::function<bool(const blackbox::Record&)>& shown, bool colour, bool utc,
                  Text& out);

}  // namespace logcat
