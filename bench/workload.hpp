// The values of the 4-argument message for record i, shared by the end-to-end and the
// instruction-count benchmarks so both log exactly the same records.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "messages.hpp"

namespace bench {

// The 4-argument message's values for record i, in two workloads:
//  0 "regular": the hot-path benchmark's values (i, i * 0.5, 200, one user), which any
//    compressor turns into almost nothing;
//  1 "service": what a service would log: sequential request ids, latencies in ms with
//    microsecond resolution, mostly 200 with some 404/500/302, 500 distinct users.
struct Values {
  std::uint64_t id;
  double ms;
  int status;
  const char* user;
};

inline const std::vector<std::string>& users() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (int k = 0; k < 500; ++k)
      v.push_back("user" + std::to_string(k * 7919 % 10007) + "@example.com");
    return v;
  }();
  return names;
}

inline std::uint64_t mix(std::uint64_t x) {  // splitmix64
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline Values values(int kind, std::uint64_t i) {
  if (kind == 0) return {i, static_cast<double>(i) * 0.5, 200, kUser};
  const std::uint64_t h = mix(i);
  const std::uint64_t pick = (h >> 20) % 100;
  const int status = pick < 90 ? 200 : pick < 95 ? 404 : pick < 98 ? 500 : 302;
  return {1'000'000 + i, static_cast<double>(h % 100'000) / 1000.0, status,
          users()[(h >> 32) % users().size()].c_str()};
}

}  // namespace bench
