// The cost of a call site with a USDT tracer attached or not (docs/tracing.md), per call:
// a disabled debug call (the record probe alone once attached) and an enabled info call (the
// record, then the probe). Says "ready", waits for a line on stdin (attach the tracer first:
// bench/usdt_cost.sh does), then times 1 M calls of each, three rounds.
#include <chrono>
#include <cstdio>

#include "blackbox/blackbox.hpp"

int main() {
  blackbox::Config config = blackbox::Config::from_env();
  config.levels = "info";
  config.archive_dir.clear();  // the calls, not the archive
  config.console = "off";
  if (!blackbox::init(config).ok()) return 1;
  std::printf("ready\n");
  std::fflush(stdout);
  char line[16];
  if (std::fgets(line, sizeof line, stdin) == nullptr) return 1;
  constexpr long kCalls = 1'000'000;
  for (int round = 0; round < 3; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < kCalls; ++i) {
      BBX_LOG("net", blackbox::Level::debug, "disabled {id} to {peer}", i, "10.0.0.7");
    }
    const auto t1 = std::chrono::steady_clock::now();
    for (long i = 0; i < kCalls; ++i) BBX_LOG("net", blackbox::Level::info, "enabled {id}", i);
    const auto t2 = std::chrono::steady_clock::now();
    std::printf("disabled %.1f ns/call, enabled %.1f ns/call\n",
                std::chrono::duration<double, std::nano>(t1 - t0).count() / kCalls,
                std::chrono::duration<double, std::nano>(t2 - t1).count() / kCalls);
  }
  return 0;
}
