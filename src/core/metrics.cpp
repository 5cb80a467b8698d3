// The metric registry (blackbox/metrics.hpp): one per process, in the library, so a metric
// declared in a shared library and in the main program with the same name and tags is one
// metric. It gives each metric its cells (the same run in every stripe, for every ring this
// process ever has: a forked child's ring gets the same table) and writes the ring file's
// metric table (format/metrics_area.hpp). Also the update slow paths and reading back.
//
// Locking: the registry's mutex guards its tables and serialises writes to the ring file's
// metric table and to text metrics. Lock order: the logger's mutex, then this one (the
// logger publishes the table of a new ring while holding its own); nothing here takes the
// logger's mutex while holding this one.
#include "core/metrics.hpp"

#include <fmt/format.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "blackbox/metrics.hpp"
#include "core/logger.hpp"
#include "format/metrics_area.hpp"

namespace blackbox {
namespace core {
namespace {

struct Definition {
  MetricKind kind;
  MetricUnit unit;
  std::string name;
  std::string tags;  // encoded (format/metrics_area.hpp)
  std::string help;
  std::uint32_t cell;
};

struct Registry {
  std::mutex mutex;
  std::vector<Definition> definitions;
  std::map<std::string, std::uint32_t> by_identity;  // name '\0' tags -> definition
  std::map<std::string, MetricKind, std::less<>> kind_of_name;
  // Every Prometheus series name a declared metric writes -> that metric's name: two
  // metrics whose series meet would make the exposition invalid (a second HELP, a series
  // of two families), so the second is refused.
  std::map<std::string, std::string, std::less<>> series_owner;
  std::uint64_t next_cell = 0;
  // The ring whose table shows definitions[0, published) (reset when the ring changes: a
  // forked child's new ring).
  const ring::RingMemory* published_ring = nullptr;
  std::size_t published = 0;
  // Without a ring (relaxed counters).
  std::atomic<std::uint64_t> updates_lost{0};
  std::atomic<std::uint64_t> declarations_refused{0};
};

// Never destroyed: metrics are declared and updated during static construction and
// destruction.
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

// Whether `def`'s cells fit the ring's stripes.
bool fits(const ring::RingMemory& ring, std::uint64_t cell, MetricKind kind) {
  return cell + ring::metric_cells(kind) <= ring.layout().metric_cells;
}

// Writes the definitions the ring's table does not show yet. Caller holds the mutex.
void publish_locked(Registry& r, ring::RingMemory& ring) {
  ring::MetricsHeader* header = ring.metrics();
  if (header == nullptr) return;
  if (r.published_ring != &ring) {
    r.published_ring = &ring;
    r.published = 0;
  }
  for (; r.published < r.definitions.size(); ++r.published) {
    const Definition& d = r.definitions[r.published];
    if (!fits(ring, d.cell, d.kind)) continue;  // no room: never shown, updates counted
    const std::uint32_t index = header->defined.load(std::memory_order_relaxed);  // sole writer
    if (!ring.reserve_metric_entry(index)) continue;
    ring::write_metric_entry(reinterpret_cast<std::byte*>(header), index, d.kind, d.unit, d.name,
                             d.tags, d.help, d.cell);
  }
}

void count_lost() noexcept {
  if (ring::RingMemory* ring = current_ring(); ring != nullptr && ring->metrics() != nullptr) {
    ring->metrics()->updates_lost.fetch_add(1, std::memory_order_relaxed);
  } else {
    registry().updates_lost.fetch_add(1, std::memory_order_relaxed);
  }
}

void refuse(std::string_view name, const std::string& why) {
  if (ring::RingMemory* ring = current_ring(); ring != nullptr && ring->metrics() != nullptr) {
    ring->metrics()->declarations_refused.fetch_add(1, std::memory_order_relaxed);
  } else {
    registry().declarations_refused.fetch_add(1, std::memory_order_relaxed);
  }
  say(fmt::format("metric \"{}\" refused: {}; its updates are counted as lost", name, why));
}

// `ring` if it has a metrics region with room for metric `m`, else null.
ring::RingMemory* holding(ring::RingMemory* ring, detail::MetricCells m) noexcept {
  if (ring == nullptr || ring->metrics() == nullptr || m.end > ring->layout().metric_cells) {
    return nullptr;
  }
  return ring;
}

// The shared stripe's cells of metric `m` (starting the logger if needed), or null: no ring,
// or no room for the metric.
std::uint64_t* shared_cells(detail::MetricCells m) noexcept {
  ring::RingMemory* ring = holding(started_ring(), m);
  return ring == nullptr ? nullptr : ring->metric_stripe(0) + m.cell;
}

// The stripes holding values: the shared one and those of slots ever owned.
std::vector<const std::uint64_t*> stripes_in_use(const ring::RingMemory& ring) {
  std::vector<const std::uint64_t*> stripes{ring.metric_stripe(0)};
  for (std::uint32_t s = 0; s < ring.layout().slot_count; ++s) {
    if (ring.slot_header(s).owners.load(std::memory_order_relaxed) != 0) {
      stripes.push_back(ring.metric_stripe(s + 1));
    }
  }
  return stripes;
}

}  // namespace

void publish_metrics(ring::RingMemory& ring) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  publish_locked(r, ring);
  // What was counted before there was a ring.
  if (ring::MetricsHeader* h = ring.metrics(); h != nullptr) {
    h->updates_lost.fetch_add(r.updates_lost.exchange(0, std::memory_order_relaxed),
                              std::memory_order_relaxed);
    h->declarations_refused.fetch_add(r.declarations_refused.exchange(0, std::memory_order_relaxed),
                                      std::memory_order_relaxed);
  }
}

void lock_metrics_for_fork() { registry().mutex.lock(); }
void unlock_metrics_after_fork() { registry().mutex.unlock(); }

}  // namespace core

namespace detail {

MetricCells declare_metric(MetricKind kind, std::string_view name, Tags tags, MetricUnit unit,
                           std::string_view help) noexcept {
  using core::Registry;
  try {
    if (!ring::valid_metric_name(name)) {
      core::refuse(name, fmt::format("a name is [A-Za-z_][A-Za-z0-9_.:-]*, 1 to {} bytes",
                                     ring::kMetricNameMax));
      return {};
    }
    std::vector<MetricTag> list;
    std::map<std::string, std::string> labels;  // Prometheus label -> the tag key it maps
    for (const Tag& t : tags) {
      const std::string label = prometheus_label(t.key);
      if (label.empty()) {
        core::refuse(name, fmt::format("tag key \"{}\" is reserved by Prometheus", t.key));
        return {};
      }
      if (const auto [it, added] = labels.emplace(label, std::string(t.key)); !added) {
        core::refuse(name, fmt::format("tag keys \"{}\" and \"{}\" are one Prometheus label, {}",
                                       it->second, t.key, label));
        return {};
      }
      if (!valid_utf8(t.value)) {
        core::refuse(name, fmt::format("the value of tag \"{}\" is not UTF-8", t.key));
        return {};
      }
      list.push_back({std::string(t.key), std::string(t.value)});
    }
    std::string encoded, error;
    if (!ring::encode_metric_tags(std::move(list), encoded, error)) {
      core::refuse(name, error);
      return {};
    }
    Registry& r = core::registry();
    std::unique_lock lock(r.mutex);
    std::string identity(name);
    identity += '\0';
    identity += encoded;
    if (auto it = r.by_identity.find(identity); it != r.by_identity.end()) {
      const core::Definition& d = r.definitions[it->second];
      if (d.kind == kind) return {d.cell, d.cell + ring::metric_cells(kind)};
      // The same name and tags as another kind: never the other's cells.
      lock.unlock();
      core::refuse(name, fmt::format("already declared as a {}, here as a {}",
                                     metric_kind_name(d.kind), metric_kind_name(kind)));
      return {};
    }
    if (auto it = r.kind_of_name.find(name); it != r.kind_of_name.end() && it->second != kind) {
      lock.unlock();
      core::refuse(name, fmt::format("already declared as a {}, here as a {}",
                                     metric_kind_name(it->second), metric_kind_name(kind)));
      return {};
    }
    const PrometheusNames prom = prometheus_names(name, kind, unit);
    for (const std::string& series : prom.series) {
      if (auto it = r.series_owner.find(series); it != r.series_owner.end() && it->second != name) {
        const std::string other = it->second;
        lock.unlock();
        core::refuse(
            name, fmt::format("its Prometheus series {} is also metric \"{}\"'s", series, other));
        return {};
      }
    }
    const std::uint32_t cells = ring::metric_cells(kind);
    if (r.next_cell + cells > ring::kMetricCellsMax) {
      lock.unlock();
      core::refuse(name, "more metrics than any ring file has room for");
      return {};
    }
    const auto cell = static_cast<std::uint32_t>(r.next_cell);
    r.next_cell += cells;
    r.definitions.push_back({kind, unit, std::string(name), encoded,
                             std::string(help.substr(0, ring::kMetricTextBytes)), cell});
    r.by_identity.emplace(std::move(identity),
                          static_cast<std::uint32_t>(r.definitions.size() - 1));
    r.kind_of_name.emplace(std::string(name), kind);
    for (const std::string& series : prom.series) r.series_owner.emplace(series, std::string(name));
    ring::RingMemory* ring = core::current_ring();
    if (ring != nullptr) {
      core::publish_locked(r, *ring);
      if (!core::fits(*ring, cell, kind)) {
        lock.unlock();
        core::say(fmt::format(
            "metric \"{}\" does not fit: the ring file has room for {} metric cells per thread "
            "(raise Config::metric_cells / BBX_METRIC_CELLS); its updates are counted as lost",
            name, ring->layout().metric_cells));
      }
    }
    return {cell, cell + cells};
  } catch (...) {  // out of memory: the metric is not kept
    return {};
  }
}

void counter_add_slow(MetricCells m, std::uint64_t n) noexcept {
  Producer& p = tls_producer;
  if (p.metric_limit == 0 && core::attach_for_metrics(p) && m.end <= p.metric_limit) {
    bump(p.metric_cells[m.cell], n);
    return;
  }
  if (std::uint64_t* cells = core::shared_cells(m); cells != nullptr) {
    std::atomic_ref<std::uint64_t>(cells[0]).fetch_add(n, std::memory_order_relaxed);
    return;
  }
  core::count_lost();
}

void histogram_record_slow(MetricCells m, std::uint64_t value) noexcept {
  Producer& p = tls_producer;
  if (p.metric_limit == 0 && core::attach_for_metrics(p) && m.end <= p.metric_limit) {
    std::uint64_t* cells = p.metric_cells + m.cell;
    bump(cells[0], value);
    bump(cells[1 + log_bins::index(value)], 1);
    return;
  }
  if (std::uint64_t* cells = core::shared_cells(m); cells != nullptr) {
    std::atomic_ref<std::uint64_t>(cells[0]).fetch_add(value, std::memory_order_relaxed);
    std::atomic_ref<std::uint64_t>(cells[1 + log_bins::index(value)])
        .fetch_add(1, std::memory_order_relaxed);
    return;
  }
  core::count_lost();
}

void gauge_update_slow(MetricCells m, std::int64_t value, bool add) noexcept {
  Producer& p = tls_producer;
  if (p.metric_limit == 0) (void)core::attach_for_metrics(p);
  if (std::uint64_t* cells = core::shared_cells(m); cells != nullptr) {
    std::atomic_ref<std::uint64_t> cell(cells[0]);
    if (add) {
      cell.fetch_add(static_cast<std::uint64_t>(value), std::memory_order_relaxed);
    } else {
      cell.store(static_cast<std::uint64_t>(value), std::memory_order_relaxed);
    }
    return;
  }
  core::count_lost();
}

void text_metric_set(MetricCells m, std::string_view text) noexcept {
  std::uint64_t* cells = core::shared_cells(m);
  if (cells == nullptr) {
    core::count_lost();
    return;
  }
  // Writers serialise here; readers (any process) use the sequence word.
  std::lock_guard lock(core::registry().mutex);
  ring::write_text_cells(cells, text);
}

std::uint64_t counter_value(MetricCells m) noexcept {
  const ring::RingMemory* ring = core::holding(core::current_ring(), m);
  return ring == nullptr ? 0 : ring::sum_counter(core::stripes_in_use(*ring), m.cell);
}

std::int64_t gauge_value(MetricCells m) noexcept {
  const ring::RingMemory* ring = core::holding(core::current_ring(), m);
  return ring == nullptr
             ? 0
             : static_cast<std::int64_t>(ring::load_cell(ring->metric_stripe(0)[m.cell]));
}

LogHistogram histogram_value(MetricCells m) noexcept {
  const ring::RingMemory* ring = core::holding(core::current_ring(), m);
  return ring == nullptr ? LogHistogram{}
                         : ring::sum_histogram(core::stripes_in_use(*ring), m.cell);
}

std::string text_metric_value(MetricCells m) {
  const ring::RingMemory* ring = core::holding(core::current_ring(), m);
  std::string out;
  if (ring != nullptr) (void)ring::read_text_cells(ring->metric_stripe(0) + m.cell, out);
  return out;
}

}  // namespace detail
}  // namespace blackbox
