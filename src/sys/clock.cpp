#include "sys/clock.hpp"

#include <time.h>

#include <atomic>

namespace blackbox::sys {
namespace {
std::atomic<std::int64_t> g_realtime_step{0};  // tests only; relaxed: a plain offset
}  // namespace

std::int64_t realtime_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec +
         g_realtime_step.load(std::memory_order_relaxed);
}

void step_realtime_for_testing(std::int64_t offset_ns) noexcept {
  g_realtime_step.fetch_add(offset_ns, std::memory_order_relaxed);
}

std::int64_t monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace blackbox::sys
