// Application metrics in the flight recorder: counters, gauges, log-linear histograms and
// text metrics, kept in the ring file (readable live by `logcat metrics -p PID`, and after
// the process died), snapshotted into the archive, exposed to Prometheus by logcat.
//
//   blackbox::Counter requests{"http.server.requests", {{"route", "/login"}}};
//   blackbox::Histogram latency{"http.server.latency", {{"route", "/login"}},
//                               blackbox::MetricUnit::nanoseconds};
//   ...
//   requests.add();
//   { auto timer = latency.time();  /* handle the request */ }
//
// A metric is declared once (its name and tags) and updated anywhere. Names are
// hierarchical ([A-Za-z_][A-Za-z0-9_.:-]*, up to 96 bytes); tags are key=value pairs (keys
// [A-Za-z_][A-Za-z0-9_.]*, values without control characters, 128 bytes in all). The same
// name and tags always give the same metric, in every object, translation unit and shared
// library of the process that declares it; a name declared as two kinds is refused the second
// time (said once on stderr; its updates are counted as lost).
//
// Updates take no lock, never allocate, and never make a system call after the thread's
// first update. Counters and histograms fan out per thread: each thread adds into cells of
// its own (in its slot's stripe of the ring file), so threads never share a cache line, and
// readers sum the threads. A thread's first update gives it a slot, as a first log call does.
// Gauges and text metrics have one value, shared. Costs (docs/performance.md): a counter add
// is 8 instructions, a histogram record 39 (2.8 ns).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "blackbox/detail/producer.hpp"
#include "blackbox/log_histogram.hpp"
#include "blackbox/metric_values.hpp"

namespace blackbox {

// A tag of a metric's identity: {"route", "/login"}.
struct Tag {
  std::string_view key;
  std::string_view value;
};
using Tags = std::initializer_list<Tag>;

namespace detail {

// A metric's cells, the same in every stripe: [cell, end). A refused declaration gets
// cells no stripe has, so its updates take the slow path and are counted as lost.
struct MetricCells {
  std::uint32_t cell = 0xffff'ffff;
  std::uint32_t end = 0xffff'ffff;
};

[[nodiscard]] MetricCells declare_metric(MetricKind kind, std::string_view name, Tags tags,
                                         MetricUnit unit, std::string_view help) noexcept;

// The slow paths: the thread's first update (it takes a slot), a thread without a slot (it
// adds into the shared stripe, atomically), a metric without room (counted as lost).
void counter_add_slow(MetricCells m, std::uint64_t n) noexcept;
void histogram_record_slow(MetricCells m, std::uint64_t value) noexcept;
void gauge_update_slow(MetricCells m, std::int64_t value, bool add) noexcept;
void text_metric_set(MetricCells m, std::string_view text) noexcept;

// Reading back (this process): the sum over the stripes, or the shared value.
[[nodiscard]] std::uint64_t counter_value(MetricCells m) noexcept;
[[nodiscard]] std::int64_t gauge_value(MetricCells m) noexcept;
[[nodiscard]] LogHistogram histogram_value(MetricCells m) noexcept;
[[nodiscard]] std::string text_metric_value(MetricCells m);

// A cell of the thread's own stripe: only this thread writes it, readers load it
// concurrently; relaxed, no read-modify-write (a plain load, add and store).
inline void bump(std::uint64_t& cell, std::uint64_t n) noexcept {
  std::atomic_ref<std::uint64_t> c(cell);
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace detail

// A count that only grows: requests served, bytes sent, errors.
class Counter {
 public:
  explicit Counter(std::string_view name, Tags tags = {}, std::string_view help = {}) noexcept
      : m_(detail::declare_metric(MetricKind::counter, name, tags, MetricUnit::none, help)) {}

  void add(std::uint64_t n = 1) const noexcept {
    detail::Producer& p = detail::tls_producer;
    if (m_.cell < p.metric_limit) [[likely]] {
      detail::bump(p.metric_cells[m_.cell], n);
    } else {
      detail::counter_add_slow(m_, n);
    }
  }
  // The total over every thread of this process, now.
  [[nodiscard]] std::uint64_t value() const noexcept { return detail::counter_value(m_); }

 private:
  detail::MetricCells m_;
};

// A value that goes up and down: queue depth, connections open, bytes in use. One value per
// process (not per thread): set() is a store, add() an atomic add.
class Gauge {
 public:
  explicit Gauge(std::string_view name, Tags tags = {}, MetricUnit unit = MetricUnit::none,
                 std::string_view help = {}) noexcept
      : m_(detail::declare_metric(MetricKind::gauge, name, tags, unit, help)) {}

  void set(std::int64_t value) const noexcept {
    detail::Producer& p = detail::tls_producer;
    if (m_.cell < p.metric_limit) [[likely]] {
      std::atomic_ref<std::uint64_t>(p.metric_shared[m_.cell])
          .store(static_cast<std::uint64_t>(value), std::memory_order_relaxed);
    } else {
      detail::gauge_update_slow(m_, value, false);
    }
  }
  void add(std::int64_t delta) const noexcept {
    detail::Producer& p = detail::tls_producer;
    if (m_.cell < p.metric_limit) [[likely]] {
      std::atomic_ref<std::uint64_t>(p.metric_shared[m_.cell])
          .fetch_add(static_cast<std::uint64_t>(delta), std::memory_order_relaxed);
    } else {
      detail::gauge_update_slow(m_, delta, true);
    }
  }
  [[nodiscard]] std::int64_t value() const noexcept { return detail::gauge_value(m_); }

 private:
  detail::MetricCells m_;
};

class Histogram;

// Records the time from its construction to its destruction (steady_clock, ns) into a
// histogram: `auto timer = latency.time();`.
class ScopedTimer {
 public:
  explicit ScopedTimer(const Histogram& histogram) noexcept
      : histogram_(&histogram), start_(std::chrono::steady_clock::now()) {}
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;
  inline ~ScopedTimer();
  // Records now instead of at destruction (once).
  inline void stop() noexcept;

 private:
  const Histogram* histogram_;
  std::chrono::steady_clock::time_point start_;
};

// A distribution of unsigned integers (latencies in ns, sizes in bytes) in the log-linear
// bins of blackbox/log_histogram.hpp: base 10, two significant digits, quantiles within 5 %,
// merged exactly across threads, processes and time.
class Histogram {
 public:
  explicit Histogram(std::string_view name, Tags tags = {}, MetricUnit unit = MetricUnit::none,
                     std::string_view help = {}) noexcept
      : m_(detail::declare_metric(MetricKind::histogram, name, tags, unit, help)) {}

  void record(std::uint64_t value) const noexcept {
    detail::Producer& p = detail::tls_producer;
    if (m_.end <= p.metric_limit) [[likely]] {
      std::uint64_t* cells = p.metric_cells + m_.cell;
      detail::bump(cells[0], value);                       // the sum
      detail::bump(cells[1 + log_bins::index(value)], 1);  // the bin
    } else {
      detail::histogram_record_slow(m_, value);
    }
  }
  // A duration, in nanoseconds (negative: 0).
  template <typename Rep, typename Period>
  void record(std::chrono::duration<Rep, Period> d) const noexcept {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    record(ns > 0 ? static_cast<std::uint64_t>(ns) : 0);
  }
  [[nodiscard]] ScopedTimer time() const noexcept { return ScopedTimer(*this); }
  // Every thread's values of this process, merged, now.
  [[nodiscard]] LogHistogram value() const noexcept { return detail::histogram_value(m_); }

 private:
  detail::MetricCells m_;
};

inline ScopedTimer::~ScopedTimer() { stop(); }
inline void ScopedTimer::stop() noexcept {
  if (histogram_ == nullptr) return;
  histogram_->record(std::chrono::steady_clock::now() - start_);
  histogram_ = nullptr;
}

// A short string: a version, a build, a status ("draining"). Up to 55 bytes are kept (cut at
// a character boundary). Setting it takes a lock: not for a hot path.
class TextMetric {
 public:
  explicit TextMetric(std::string_view name, Tags tags = {}, std::string_view help = {}) noexcept
      : m_(detail::declare_metric(MetricKind::text, name, tags, MetricUnit::none, help)) {}

  void set(std::string_view text) const noexcept { detail::text_metric_set(m_, text); }
  [[nodiscard]] std::string value() const { return detail::text_metric_value(m_); }

 private:
  detail::MetricCells m_;
};

}  // namespace blackbox
