// Recording into the log-linear histogram (include/blackbox/log_histogram.hpp), the one the
// telemetry uses for the flusher's pass and write times (and application metrics will):
// ns per recorded value, in batches of 4,096 values spread over six decades. Beside it, what
// the simplest exact alternative costs: appending the value to a vector (what sorting for a
// quantile needs), and a linear histogram's bucket search over Prometheus's default
// buckets (what client libraries do without log-linear bins).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "blackbox/log_histogram.hpp"
#include "latencies.hpp"

namespace {

const std::vector<std::uint64_t>& values() { return bench::latencies(); }

void BM_LogHistogram_record(benchmark::State& state) {
  blackbox::LogHistogram h;
  const auto& v = values();
  for (auto _ : state) {
    for (const std::uint64_t x : v) h.record(x);
    benchmark::DoNotOptimize(h);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * v.size()));
}
BENCHMARK(BM_LogHistogram_record);

void BM_Vector_push_back(benchmark::State& state) {
  std::vector<std::uint64_t> all;
  all.reserve(1 << 20);
  const auto& v = values();
  for (auto _ : state) {
    if (all.size() > (1u << 20) - v.size()) all.clear();
    for (const std::uint64_t x : v) all.push_back(x);
    benchmark::DoNotOptimize(all.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * v.size()));
}
BENCHMARK(BM_Vector_push_back);

// Prometheus's default buckets (in seconds, here ns), found with a binary search as the
// client libraries do.
void BM_PrometheusDefaultBuckets(benchmark::State& state) {
  static constexpr std::array<double, 11> kBounds = {5e6, 1e7, 2.5e7, 5e7, 1e8, 2.5e8,
                                                     5e8, 1e9, 2.5e9, 5e9, 1e10};
  std::array<std::uint64_t, kBounds.size() + 1> counts{};
  double sum = 0;
  const auto& v = values();
  for (auto _ : state) {
    for (const std::uint64_t x : v) {
      const auto d = static_cast<double>(x);
      ++counts[static_cast<std::size_t>(std::lower_bound(kBounds.begin(), kBounds.end(), d) -
                                        kBounds.begin())];
      sum += d;
    }
    benchmark::DoNotOptimize(counts);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * v.size()));
}
BENCHMARK(BM_PrometheusDefaultBuckets);

}  // namespace

BENCHMARK_MAIN();
