// Application metrics (include/blackbox/metrics.hpp) beside prometheus-cpp (Debian's
// prometheus-cpp-dev), in the same run: a counter add, a gauge set, a histogram record, on 1
// and 2 threads. ns per update, in batches of 4,096 updates (the values of a histogram: a
// log-normal spread over six decades, the same for both).
//
// What each does per update: blackbox adds into cells of the calling thread's own (a plain
// load, add and store; the histogram finds its log-linear bin with a count of leading zeros
// and a multiplication); prometheus-cpp's counter and histogram are shared by every thread
// (an atomic compare-and-swap loop on a double; the histogram first searches its bucket
// bounds). The prometheus-cpp histogram has 20 exponential buckets (x2 from 1 us); ours has
// 1,639 bins, 90 per decade.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "blackbox/metrics.hpp"
#include "latencies.hpp"
#include "prometheus_peers.hpp"

namespace {

const std::vector<std::uint64_t>& values() { return bench::latencies(); }

constexpr std::int64_t kBatch = 4096;

const blackbox::Counter g_counter{"http.server.requests", {{"route", "/login"}}};
const blackbox::Gauge g_gauge{"queue.depth"};
const blackbox::Histogram g_histogram{
    "http.server.latency", {{"route", "/login"}}, blackbox::MetricUnit::nanoseconds};

void BM_Counter_add_blackbox(benchmark::State& state) {
  for (auto _ : state) {
    for (std::int64_t i = 0; i < kBatch; ++i) {
      g_counter.add();
      benchmark::ClobberMemory();  // one add each (the compiler may not merge them)
    }
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_Counter_add_blackbox)->Threads(1)->Threads(2)->UseRealTime();

void BM_Counter_add_prometheus_cpp(benchmark::State& state) {
  prometheus::Counter& c = bench::prometheus_counter();
  for (auto _ : state) {
    for (std::int64_t i = 0; i < kBatch; ++i) {
      c.Increment();
      benchmark::ClobberMemory();
    }
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_Counter_add_prometheus_cpp)->Threads(1)->Threads(2)->UseRealTime();

void BM_Gauge_set_blackbox(benchmark::State& state) {
  for (auto _ : state) {
    for (std::int64_t i = 0; i < kBatch; ++i) {
      g_gauge.set(i);
      benchmark::ClobberMemory();
    }
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_Gauge_set_blackbox)->Threads(1)->UseRealTime();

void BM_Gauge_set_prometheus_cpp(benchmark::State& state) {
  prometheus::Gauge& g = bench::prometheus_gauge();
  for (auto _ : state) {
    for (std::int64_t i = 0; i < kBatch; ++i) {
      g.Set(static_cast<double>(i));
      benchmark::ClobberMemory();
    }
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_Gauge_set_prometheus_cpp)->Threads(1)->UseRealTime();

void BM_Histogram_record_blackbox(benchmark::State& state) {
  const auto& v = values();
  for (auto _ : state) {
    for (const std::uint64_t x : v) g_histogram.record(x);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_Histogram_record_blackbox)->Threads(1)->Threads(2)->UseRealTime();

void BM_Histogram_record_prometheus_cpp(benchmark::State& state) {
  prometheus::Histogram& h = bench::prometheus_histogram();
  const auto& v = values();
  for (auto _ : state) {
    for (const std::uint64_t x : v) h.Observe(static_cast<double>(x));
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_Histogram_record_prometheus_cpp)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "metrics_bench";
  config.archive_dir.clear();
  config.console = "off";
  (void)blackbox::init(config);
  (void)bench::prometheus_counter();
  (void)bench::prometheus_gauge();
  (void)bench::prometheus_histogram();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
