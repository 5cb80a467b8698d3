// Values to record into histograms, shared by histogram_bench and metrics_bench so both
// record the same ones: 4,096 latencies in ns, log-normal around 50 us over six decades.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace bench {

inline const std::vector<std::uint64_t>& latencies() {
  static const std::vector<std::uint64_t> v = [] {
    std::mt19937_64 rng(1);
    std::lognormal_distribution<double> d(std::log(50'000.0), 1.5);
    std::vector<std::uint64_t> out(4096);
    for (auto& x : out) x = static_cast<std::uint64_t>(d(rng));
    return out;
  }();
  return v;
}

}  // namespace bench
