// The benchmark messages: the six kinds of the NanoLog paper plus the 4-argument message of
// the targets, each as a blackbox/fmt template and a printf format.
#pragma once

#include <cstdint>

namespace bench {

inline constexpr const char* kShortA = "alpha";
inline constexpr const char* kShortB = "omega";
inline constexpr const char* kUser = "ada@example.com";

// clang-format off
#define BENCH_STATIC_FMT   "Starting backup replica garbage collector thread"
#define BENCH_STATIC_PF    "Starting backup replica garbage collector thread%s\n"  /* %s: "" */
#define BENCH_CONCAT_FMT   "{} {}"
#define BENCH_CONCAT_PF    "%s %s\n"
#define BENCH_INT_FMT      "Backup storage speeds (min): {} MB/s read"
#define BENCH_INT_PF       "Backup storage speeds (min): %d MB/s read\n"
#define BENCH_TWO_INT_FMT  "buffer has consumed {} bytes of extra storage, current allocation: {} bytes"
#define BENCH_TWO_INT_PF   "buffer has consumed %llu bytes of extra storage, current allocation: %llu bytes\n"
#define BENCH_DOUBLE_FMT   "Using tombstone ratio balancer with ratio = {}"
#define BENCH_DOUBLE_PF    "Using tombstone ratio balancer with ratio = %g\n"
#define BENCH_COMPLEX_FMT  "Initialized InfUdDriver buffers: {} receive buffers ({:.1f} MB) on {} id {:>8}"
#define BENCH_COMPLEX_PF   "Initialized InfUdDriver buffers: %d receive buffers (%.1f MB) on %s id %8d\n"
#define BENCH_FOUR_FMT     "request {} took {} ms status {} user {}"
#define BENCH_FOUR_PF      "request %llu took %g ms status %d user %s\n"
// clang-format on

}  // namespace bench
