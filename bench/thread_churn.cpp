// Threads that come and go: N threads one after another, each logging one record and
// exiting (a thread per request, a pool that grows and shrinks). Prints the rate, what the
// archive holds and lost, and the process's peak RSS: the records must all be kept, and the
// memory must follow the threads alive at once (here one), not every thread that ran.
//   build/release/bench/thread_churn [N]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "blackbox/blackbox.hpp"

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 10'000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) std::thread([i] { BBX_INFO("thread record {}", i); }).join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool flushed = blackbox::flush();
  const blackbox::Stats s = blackbox::stats();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "threads=%d rate=%.0f/s flushed=%d archived=%llu lost_overwritten=%llu "
      "dropped_no_slot=%llu peak_rss_mb=%.1f\n",
      n, n / seconds, flushed ? 1 : 0, static_cast<unsigned long long>(s.records_archived),
      static_cast<unsigned long long>(s.lost_overwritten),
      static_cast<unsigned long long>(s.dropped_no_slot), static_cast<double>(ru.ru_maxrss) / 1024);
  return s.lost_overwritten == 0 ? 0 : 1;
}
