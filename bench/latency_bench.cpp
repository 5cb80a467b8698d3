// Latency of each log call, measured with the TSC around every single call, for 1 and 2
// threads logging back to back (so the ring wraps all the time). Prints median, p99, p99.9
// and max in ns, with the cost of the two TSC reads alone (the measuring floor) beside it.
//
//   build/release/bench/latency_bench [calls_per_thread]
#include <x86intrin.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "messages.hpp"
#include "peers.hpp"

namespace {

double ticks_per_ns() {
  const auto t0 = std::chrono::steady_clock::now();
  const std::uint64_t c0 = __rdtsc();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(200)) {
  }
  const std::uint64_t c1 = __rdtsc();
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  return static_cast<double>(c1 - c0) / static_cast<double>(ns);
}

struct Percentiles {
  double median, p99, p999, max;
};

Percentiles summarize(std::vector<std::uint64_t>& ticks, double per_ns) {
  std::sort(ticks.begin(), ticks.end());
  auto at = [&](double q) {
    return static_cast<double>(
               ticks[static_cast<std::size_t>(q * static_cast<double>(ticks.size() - 1))]) /
           per_ns;
  };
  return {at(0.5), at(0.99), at(0.999), static_cast<double>(ticks.back()) / per_ns};
}

// Runs `threads` threads, each timing `calls` calls of `log(i)`; returns all samples.
template <typename Log>
std::vector<std::uint64_t> measure(unsigned threads, std::size_t calls, Log log) {
  std::vector<std::vector<std::uint64_t>> samples(threads, std::vector<std::uint64_t>(calls));
  std::barrier start(threads);
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto& out = samples[t];
      for (std::size_t i = 0; i < 10'000; ++i) log(i);  // warm up: slot, site, caches
      start.arrive_and_wait();
      for (std::size_t i = 0; i < calls; ++i) {
        const std::uint64_t t0 = __rdtsc();
        log(i);
        unsigned aux;
        const std::uint64_t t1 = __rdtscp(&aux);
        out[i] = t1 - t0;
      }
    });
  }
  for (auto& th : pool) th.join();
  std::vector<std::uint64_t> all;
  for (auto& s : samples) all.insert(all.end(), s.begin(), s.end());
  return all;
}

void report(const char* name, unsigned threads, std::vector<std::uint64_t> samples, double per_ns) {
  const Percentiles p = summarize(samples, per_ns);
  std::printf("%-22s %7u %10.1f %10.1f %10.1f %12.1f\n", name, threads, p.median, p.p99, p.p999,
              p.max);
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t calls = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "latency_bench";
  // The flusher runs as in production (on the other core), archiving into the bench
  // directory, which Peers removes at exit.
  config.archive_dir = bench::Peers::dir() + "/archive";
  if (auto r = blackbox::init(config); !r.ok()) std::fprintf(stderr, "%s\n", r.error.c_str());
  const double per_ns = ticks_per_ns();
  std::printf("TSC %.3f ticks/ns; %zu calls per thread; 4-argument message\n", per_ns, calls);
  std::printf("%-22s %7s %10s %10s %10s %12s\n", "logger", "threads", "median ns", "p99 ns",
              "p99.9 ns", "max ns");
  for (unsigned threads : {1u, 2u}) {
    report("(two TSC reads only)", threads,
           measure(threads, calls,
                   [](std::size_t) {
                     asm volatile("" ::: "memory");
                   }),
           per_ns);
    report("blackbox", threads,
           measure(threads, calls,
                   [](std::size_t i) {
                     BBX_INFO(BENCH_FOUR_FMT, static_cast<std::uint64_t>(i),
                              static_cast<double>(i) * 0.5, 200, bench::kUser);
                   }),
           per_ns);
    auto& async = bench::peers().spdlog_async();
    report("spdlog async", threads,
           measure(threads, calls,
                   [&async](std::size_t i) {
                     async.info(BENCH_FOUR_FMT, static_cast<std::uint64_t>(i),
                                static_cast<double>(i) * 0.5, 200, bench::kUser);
                   }),
           per_ns);
    bench::peers().reset();
  }
  blackbox::shutdown();
  return 0;
}
