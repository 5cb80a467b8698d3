// The console's throughput: lines per second the flusher thread renders and writes (text
// and JSON, to /dev/null), beside spdlog's sync logger and fprintf writing the same message
// to /dev/null in the same run. Each iteration logs a batch of records (not timed), then
// times one console pass over them.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "blackbox/blackbox.hpp"
#include "core/console.hpp"
#include "messages.hpp"

namespace {

constexpr int kBatch = 10'000;

void log_batch(std::uint64_t& i) {
  double ms = 0.25;
  for (int k = 0; k < kBatch; ++k, ++i) {
    BBX_INFO(BENCH_FOUR_FMT, i, ms, 200, bench::kUser);
    ms += 0.5;
  }
}

void console_lines(benchmark::State& state, blackbox::text::Format format) {
  const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  blackbox::core::Console console(null, format, blackbox::Level::trace, false);
  std::uint64_t i = 0;
  log_batch(i);
  console.pass(false);  // opens the reader, reads the warm-up batch (and counts as not shown
                        // what earlier runs logged that the ring no longer holds)
  blackbox::Stats before;
  console.add_stats(before);
  for (auto _ : state) {
    state.PauseTiming();
    log_batch(i);
    state.ResumeTiming();
    console.pass(false);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  blackbox::Stats stats;
  console.add_stats(stats);
  // Lines the console could not show during the run (0: every line was rendered and written).
  state.counters["not_shown"] =
      static_cast<double>(stats.console_not_shown - before.console_not_shown);
  ::close(null);
}

void BM_console_text(benchmark::State& state) {
  console_lines(state, blackbox::text::Format::text);
}
void BM_console_json(benchmark::State& state) {
  console_lines(state, blackbox::text::Format::json);
}

// Peers: the same lines formatted and written on the calling thread.
void BM_spdlog_sync_devnull(benchmark::State& state) {
  static auto logger = spdlog::basic_logger_st("console_bench_null", "/dev/null");
  std::uint64_t i = 0;
  for (auto _ : state) {
    double ms = 0.25;
    for (int k = 0; k < kBatch; ++k, ++i) {
      logger->info(BENCH_FOUR_FMT, i, ms, 200, bench::kUser);
      ms += 0.5;
    }
    logger->flush();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_fprintf_devnull(benchmark::State& state) {
  std::FILE* f = std::fopen("/dev/null", "w");
  std::uint64_t i = 0;
  for (auto _ : state) {
    double ms = 0.25;
    for (int k = 0; k < kBatch; ++k, ++i) {
      std::fprintf(f, BENCH_FOUR_PF, static_cast<unsigned long long>(i), ms, 200, bench::kUser);
      ms += 0.5;
    }
    std::fflush(f);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  std::fclose(f);
}

BENCHMARK(BM_console_text)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_console_json)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_spdlog_sync_devnull)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_fprintf_devnull)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  // No archive, no console of the logger's own: the benchmark's Console is the only reader.
  blackbox::Config config = blackbox::Config::from_env();
  config.archive_dir.clear();
  config.console = "off";
  config.app = "console_bench";
  (void)blackbox::init(config);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  blackbox::shutdown();
  return 0;
}
