// The metrics region (metrics_area.hpp): entries, tags, and reading every metric back.
#include "format/metrics_area.hpp"

#include <algorithm>
#include <cstring>

#include "format/ring_metrics.hpp"

namespace blackbox {

std::string_view metric_kind_name(MetricKind kind) noexcept {
  switch (kind) {
    case MetricKind::counter:
      return "counter";
    case MetricKind::gauge:
      return "gauge";
    case MetricKind::histogram:
      return "histogram";
    case MetricKind::text:
      return "text";
  }
  return "unknown";
}

std::string_view metric_unit_name(MetricUnit unit) noexcept {
  switch (unit) {
    case MetricUnit::none:
      return "";
    case MetricUnit::nanoseconds:
      return "ns";
    case MetricUnit::bytes:
      return "bytes";
  }
  return "";
}

std::string MetricValue::identity() const {
  std::string out = name;
  if (tags.empty()) return out;
  out += '{';
  for (std::size_t i = 0; i < tags.size(); ++i) {
    if (i != 0) out += ',';
    out += tags[i].key;
    out += '=';
    out += tags[i].value;
  }
  out += '}';
  return out;
}

namespace ring {
namespace {

bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

template <typename T>
const T* at(const std::byte* region, std::uint64_t offset) {
  return reinterpret_cast<const T*>(region + offset);
}

}  // namespace

bool valid_metric_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMetricNameMax || !name_start(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return name_char(c) || c == '.' || c == ':' || c == '-'; });
}

bool encode_metric_tags(std::vector<MetricTag> tags, std::string& encoded, std::string& error) {
  std::sort(tags.begin(), tags.end(),
            [](const MetricTag& a, const MetricTag& b) { return a.key < b.key; });
  encoded.clear();
  for (std::size_t i = 0; i < tags.size(); ++i) {
    const MetricTag& t = tags[i];
    if (t.key.empty() || !name_start(t.key[0]) ||
        !std::all_of(t.key.begin(), t.key.end(), [](char c) { return name_char(c) || c == '.'; })) {
      error = "tag key \"" + t.key + "\" is not [A-Za-z_][A-Za-z0-9_.]*";
      return false;
    }
    if (i > 0 && tags[i - 1].key == t.key) {
      error = "tag key \"" + t.key + "\" given twice";
      return false;
    }
    if (std::any_of(t.value.begin(), t.value.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
      error = "the value of tag \"" + t.key + "\" has a control character";
      return false;
    }
    if (i != 0) encoded += '\n';
    encoded += t.key;
    encoded += '=';
    encoded += t.value;
  }
  if (encoded.size() > kMetricTagsMax) {
    error = "the tags take " + std::to_string(encoded.size()) + " bytes (at most " +
            std::to_string(kMetricTagsMax) + ")";
    return false;
  }
  return true;
}

std::vector<MetricTag> decode_metric_tags(std::string_view encoded) {
  std::vector<MetricTag> tags;
  while (!encoded.empty()) {
    const std::size_t end = std::min(encoded.find('\n'), encoded.size());
    const std::string_view pair = encoded.substr(0, end);
    const std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos) {
      tags.push_back({std::string(pair.substr(0, eq)), std::string(pair.substr(eq + 1))});
    }
    encoded.remove_prefix(std::min(end + 1, encoded.size()));
  }
  return tags;
}

void init_metrics_header(std::byte* region, std::uint32_t cells, std::uint32_t slots) noexcept {
  auto& h = *reinterpret_cast<MetricsHeader*>(region);
  std::memcpy(h.magic, kMetricsMagic, sizeof kMetricsMagic);
  h.entry_bytes = kMetricEntryBytes;
  h.cells = cells;
  h.stripes = slots + 1;
  h.table_offset = kMetricsHeaderBytes;
  h.stripes_offset = kMetricsHeaderBytes + metrics_table_bytes(cells);
}

void write_metric_entry(std::byte* region, std::uint32_t index, MetricKind kind, MetricUnit unit,
                        std::string_view name, std::string_view encoded_tags, std::string_view help,
                        std::uint32_t cell) noexcept {
  auto& h = *reinterpret_cast<MetricsHeader*>(region);
  MetricEntry e{};
  e.kind = static_cast<std::uint8_t>(kind);
  e.unit = static_cast<std::uint8_t>(unit);
  name = name.substr(0, kMetricNameMax);
  encoded_tags = encoded_tags.substr(0, kMetricTagsMax);
  help = help.substr(0, kMetricTextBytes - name.size() - encoded_tags.size());
  e.name_len = static_cast<std::uint16_t>(name.size());
  e.tags_len = static_cast<std::uint16_t>(encoded_tags.size());
  e.help_len = static_cast<std::uint16_t>(help.size());
  e.cell = cell;
  e.cells = metric_cells(kind);
  char* p = e.text;
  for (std::string_view s : {name, encoded_tags, help}) {
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    p += s.size();
  }
  std::memcpy(region + h.table_offset + std::uint64_t{index} * kMetricEntryBytes, &e, sizeof e);
  // Release: the entry before the count that shows it. Pairs with read_metrics_region().
  h.defined.store(index + 1, std::memory_order_release);
}

bool read_text_cells(const std::uint64_t* cells, std::string& out) noexcept {
  const auto* seq = reinterpret_cast<const std::atomic<std::uint64_t>*>(cells);
  for (int attempt = 0; attempt < 100; ++attempt) {
    const std::uint64_t before = seq->load(std::memory_order_acquire);
    if ((before & 1) != 0) continue;
    char text[kTextMetricBytes];
    for (std::uint32_t i = 0; i < kTextMetricBytes / 8; ++i) {
      const std::uint64_t word = reinterpret_cast<const std::atomic<std::uint64_t>*>(cells + 1 + i)
                                     ->load(std::memory_order_relaxed);
      std::memcpy(text + i * 8, &word, 8);
    }
    // Acquire: the copy above before the second look at the sequence.
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq->load(std::memory_order_relaxed) == before) {
      out.assign(text, strnlen(text, sizeof text));
      return true;
    }
  }
  return false;
}

void write_text_cells(std::uint64_t* cells, std::string_view text) noexcept {
  auto* seq = reinterpret_cast<std::atomic<std::uint64_t>*>(cells);
  const std::uint64_t s = seq->load(std::memory_order_relaxed);
  seq->store(s + 1, std::memory_order_relaxed);
  // Release: the odd sequence before the text (a reader that sees new text sees it odd).
  std::atomic_thread_fence(std::memory_order_release);
  // Cut to leave a NUL, at a UTF-8 boundary.
  std::size_t n = std::min<std::size_t>(text.size(), kTextMetricBytes - 1);
  while (n > 0 && n < text.size() && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  char padded[kTextMetricBytes] = {};
  if (n != 0) std::memcpy(padded, text.data(), n);
  for (std::uint32_t i = 0; i < kTextMetricBytes / 8; ++i) {
    std::uint64_t word;
    std::memcpy(&word, padded + i * 8, 8);
    reinterpret_cast<std::atomic<std::uint64_t>*>(cells + 1 + i)
        ->store(word, std::memory_order_relaxed);
  }
  // Release: the text before the even sequence.
  seq->store(s + 2, std::memory_order_release);
}

std::uint64_t sum_counter(std::span<const std::uint64_t* const> stripes,
                          std::uint32_t cell) noexcept {
  std::uint64_t sum = 0;
  for (const std::uint64_t* s : stripes) sum += load_cell(s[cell]);
  return sum;
}

LogHistogram sum_histogram(std::span<const std::uint64_t* const> stripes,
                           std::uint32_t cell) noexcept {
  LogHistogram h;
  std::uint64_t sum = 0;
  for (const std::uint64_t* s : stripes) {
    sum += load_cell(s[cell]);
    for (std::uint32_t b = 0; b < log_bins::kCount; ++b) {
      if (const std::uint64_t n = load_cell(s[cell + 1 + b]); n != 0) h.set_bin(b, h.bin(b) + n);
    }
  }
  h.set_sum_and_edges(sum);
  return h;
}

bool read_ring_metrics(const std::byte* base, const Layout& layout, MetricsSnapshot& out,
                       std::string& error) {
  std::vector<bool> in_use(layout.slot_count);
  for (std::uint32_t i = 0; i < layout.slot_count; ++i) {
    const auto& slot = *reinterpret_cast<const SlotHeader*>(base + layout.slot_headers_offset +
                                                            std::uint64_t{i} * sizeof(SlotHeader));
    in_use[i] = slot.owners.load(std::memory_order_relaxed) != 0;
  }
  return read_metrics_region(base + layout.metrics_offset, layout.metrics_bytes, layout.slot_count,
                             in_use, out, error);
}

bool read_metrics_region(const std::byte* region, std::uint64_t region_bytes, std::uint32_t slots,
                         const std::vector<bool>& slot_in_use, MetricsSnapshot& out,
                         std::string& error) {
  out.metrics.clear();
  if (region_bytes < kMetricsHeaderBytes) {
    error = "the metrics region is too small";
    return false;
  }
  const auto& h = *at<MetricsHeader>(region, 0);
  if (std::memcmp(h.magic, kMetricsMagic, sizeof kMetricsMagic) != 0) {
    error = "the metrics region has a bad magic";
    return false;
  }
  // Everything that locates data is checked against the region's size before use.
  if (h.entry_bytes != kMetricEntryBytes || h.cells < kMetricCellsMin ||
      h.cells > kMetricCellsMax || h.stripes != slots + 1 ||
      h.table_offset != kMetricsHeaderBytes ||
      h.stripes_offset != kMetricsHeaderBytes + metrics_table_bytes(h.cells) ||
      metrics_region_bytes(h.cells, slots) > region_bytes) {
    error = "the metrics region's header does not match its size";
    return false;
  }
  out.updates_lost = h.updates_lost.load(std::memory_order_relaxed);
  out.declarations_refused = h.declarations_refused.load(std::memory_order_relaxed);
  // Acquire: pairs with the release in write_metric_entry().
  const std::uint32_t defined = std::min(h.defined.load(std::memory_order_acquire), h.cells);
  const std::uint64_t stripe_bytes = metrics_stripe_bytes(h.cells);
  std::vector<const std::uint64_t*> stripes;
  stripes.push_back(at<std::uint64_t>(region, h.stripes_offset));
  for (std::uint32_t s = 0; s < slots; ++s) {
    if (s < slot_in_use.size() && slot_in_use[s]) {
      stripes.push_back(at<std::uint64_t>(region, h.stripes_offset + (s + 1) * stripe_bytes));
    }
  }
  for (std::uint32_t i = 0; i < defined; ++i) {
    const auto& e = *at<MetricEntry>(region, h.table_offset + std::uint64_t{i} * kMetricEntryBytes);
    const auto kind = static_cast<MetricKind>(e.kind);
    if (e.kind < 1 || e.kind > 4 || e.unit > 2 ||
        std::uint32_t{e.name_len} + e.tags_len + e.help_len > kMetricTextBytes ||
        e.cells != metric_cells(kind) || e.cell > h.cells || e.cells > h.cells - e.cell) {
      continue;  // damaged, or a metric the cells had no room for: it holds no values
    }
    MetricValue v;
    v.kind = kind;
    v.unit = static_cast<MetricUnit>(e.unit);
    v.name.assign(e.text, e.name_len);
    v.tags = decode_metric_tags(std::string_view(e.text + e.name_len, e.tags_len));
    v.help.assign(e.text + e.name_len + e.tags_len, e.help_len);
    switch (kind) {
      case MetricKind::counter:
        v.count = sum_counter(stripes, e.cell);
        break;
      case MetricKind::gauge:
        v.gauge = static_cast<std::int64_t>(load_cell(stripes[0][e.cell]));
        break;
      case MetricKind::text:
        (void)read_text_cells(stripes[0] + e.cell, v.text);
        break;
      case MetricKind::histogram:
        v.histogram = sum_histogram(stripes, e.cell);
        break;
    }
    out.metrics.push_back(std::move(v));
  }
  return true;
}

}  // namespace ring
}  // namespace blackbox
