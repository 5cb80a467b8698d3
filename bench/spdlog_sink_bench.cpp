// The spdlog sink's cost per message: a synchronous spdlog logger with blackbox's sink beside
// the same logger with spdlog's basic_file_sink_mt (a file in $BBX_BENCH_DIR), and with a
// null sink (spdlog's own cost: level check, formatting the payload, the sink call), in the
// same run. The message is the 4-argument one of the other benchmarks.
#include <benchmark/benchmark.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "blackbox/spdlog_sink.hpp"
#include "messages.hpp"

namespace {

std::string bench_dir() {
  const char* dir = std::getenv("BBX_BENCH_DIR");
  return dir != nullptr ? dir : "/tmp/blackbox-bench";
}

void run(benchmark::State& state, spdlog::logger& log) {
  std::uint64_t i = 0;
  double ms = 0.25;
  for (auto _ : state) {
    SPDLOG_LOGGER_INFO(&log, BENCH_FOUR_FMT, i++, ms, 200, bench::kUser);
    ms += 0.5;
  }
  log.flush();
  state.SetItemsProcessed(state.iterations());
}

void BM_spdlog_blackbox_sink(benchmark::State& state) {
  static spdlog::logger log("bench", std::make_shared<blackbox::spdlog_sink_mt>());
  run(state, log);
}

void BM_spdlog_basic_file_sink_mt(benchmark::State& state) {
  static spdlog::logger log("bench", std::make_shared<spdlog::sinks::basic_file_sink_mt>(
                                         bench_dir() + "/sink.log", true));
  run(state, log);
}

void BM_spdlog_null_sink(benchmark::State& state) {
  static spdlog::logger log("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
  run(state, log);
}

BENCHMARK(BM_spdlog_blackbox_sink);
BENCHMARK(BM_spdlog_basic_file_sink_mt);
BENCHMARK(BM_spdlog_null_sink);

}  // namespace

int main(int argc, char** argv) {
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "spdlog_sink_bench";
  config.console = "off";
  (void)blackbox::init(config);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  blackbox::shutdown();
  return 0;
}
