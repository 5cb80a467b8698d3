// Cost per log call on the calling thread: blackbox against spdlog async and sync (file
// sinks), fprintf and fmt::format_to + fwrite, for the NanoLog paper's six message kinds and
// the 4-argument target message. Each iteration logs a batch of 100 records; the summary
// table at the end gives ns per record and each peer's ratio to blackbox.
//
//   build/release/bench/hot_path_bench [--benchmark_repetitions=5]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "blackbox/span.hpp"
#include "messages.hpp"
#include "peers.hpp"

namespace {

constexpr int kBatch = 100;

// The caller resets the peers (fresh, empty files) before taking references to them.
template <typename Log>
void run_batches(benchmark::State& state, Log&& log) {
  std::uint64_t i = 0;
  for (auto _ : state) {
    for (int k = 0; k < kBatch; ++k) log(i++);
  }
  bench::peers().drain();  // after the timed loop: the next benchmark starts clean
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kBatch);
}

// Each message kind, written once per logger with the same arguments.
#define BENCH_LOGGERS(kind, FMT, PF, ...)                                                       \
  void kind##_blackbox(benchmark::State& s) {                                                   \
    bench::peers().reset();                                                                     \
    run_batches(                                                                                \
        s, []([[maybe_unused]] std::uint64_t i) { BBX_INFO(FMT __VA_OPT__(, ) __VA_ARGS__); }); \
  }                                                                                             \
  void kind##_spdlog_async(benchmark::State& s) {                                               \
    bench::peers().reset();                                                                     \
    auto& l = bench::peers().spdlog_async();                                                    \
    run_batches(                                                                                \
        s, [&l]([[maybe_unused]] std::uint64_t i) { l.info(FMT __VA_OPT__(, ) __VA_ARGS__); }); \
  }                                                                                             \
  void kind##_spdlog_sync(benchmark::State& s) {                                                \
    bench::peers().reset();                                                                     \
    auto& l = bench::peers().spdlog_sync();                                                     \
    run_batches(                                                                                \
        s, [&l]([[maybe_unused]] std::uint64_t i) { l.info(FMT __VA_OPT__(, ) __VA_ARGS__); }); \
  }                                                                                             \
  void kind##_fprintf(benchmark::State& s) {                                                    \
    bench::peers().reset();                                                                     \
    std::FILE* f = bench::peers().printf_file();                                                \
    run_batches(                                                                                \
        s, [f]([[maybe_unused]] std::uint64_t i) { std::fprintf(f, PF, PRINTF_ARGS_##kind); }); \
  }                                                                                             \
  void kind##_fmt_fwrite(benchmark::State& s) {                                                 \
    bench::peers().reset();                                                                     \
    std::FILE* f = bench::peers().fmt_file();                                                   \
    auto& buf = bench::peers().fmt_buffer();                                                    \
    run_batches(s, [f, &buf]([[maybe_unused]] std::uint64_t i) {                                \
      buf.clear();                                                                              \
      fmt::format_to(std::back_inserter(buf), FMT __VA_OPT__(, ) __VA_ARGS__);                  \
      buf.push_back('\n');                                                                      \
      std::fwrite(buf.data(), 1, buf.size(), f);                                                \
    });                                                                                         \
  }                                                                                             \
  BENCHMARK(kind##_blackbox);                                                                   \
  BENCHMARK(kind##_spdlog_async);                                                               \
  BENCHMARK(kind##_spdlog_sync);                                                                \
  BENCHMARK(kind##_fprintf);                                                                    \
  BENCHMARK(kind##_fmt_fwrite);

// printf argument lists (same values, C types); `i` is the record counter.
#define PRINTF_ARGS_static_string ""
#define PRINTF_ARGS_concat bench::kShortA, bench::kShortB
#define PRINTF_ARGS_one_int static_cast<int>(i)
#define PRINTF_ARGS_two_ints \
  static_cast<unsigned long long>(i), static_cast<unsigned long long>(i * 3)
#define PRINTF_ARGS_one_double static_cast<double>(i) * 0.25
#define PRINTF_ARGS_complex \
  static_cast<int>(i), static_cast<double>(i) / 3, bench::kShortA, static_cast<int>(i)
#define PRINTF_ARGS_four_args \
  static_cast<unsigned long long>(i), static_cast<double>(i) * 0.5, 200, bench::kUser

BENCH_LOGGERS(static_string, BENCH_STATIC_FMT, BENCH_STATIC_PF)
BENCH_LOGGERS(concat, BENCH_CONCAT_FMT, BENCH_CONCAT_PF, bench::kShortA, bench::kShortB)
BENCH_LOGGERS(one_int, BENCH_INT_FMT, BENCH_INT_PF, static_cast<int>(i))
BENCH_LOGGERS(two_ints, BENCH_TWO_INT_FMT, BENCH_TWO_INT_PF, i, i * 3)
BENCH_LOGGERS(one_double, BENCH_DOUBLE_FMT, BENCH_DOUBLE_PF, static_cast<double>(i) * 0.25)
BENCH_LOGGERS(complex, BENCH_COMPLEX_FMT, BENCH_COMPLEX_PF, static_cast<int>(i),
              static_cast<double>(i) / 3, bench::kShortA, static_cast<int>(i))
BENCH_LOGGERS(four_args, BENCH_FOUR_FMT, BENCH_FOUR_PF, i, static_cast<double>(i) * 0.5, 200,
              bench::kUser)

// A call whose level is disabled: one load and one branch.
void disabled_blackbox(benchmark::State& s) {
  bench::peers().reset();
  run_batches(s, []([[maybe_unused]] std::uint64_t i) { BBX_DEBUG("disabled {}", i); });
}
void disabled_spdlog_async(benchmark::State& s) {
  bench::peers().reset();
  auto& l = bench::peers().spdlog_async();
  run_batches(s, [&l]([[maybe_unused]] std::uint64_t i) { l.debug("disabled {}", i); });
}
BENCHMARK(disabled_blackbox);
BENCHMARK(disabled_spdlog_async);

// A span: its start record (one integer) and its end record, inside a request's span (the
// common case: a child), and as the root of a new trace. Compare with two_ints_blackbox.
void span_child_blackbox(benchmark::State& s) {
  bench::peers().reset();
  BBX_SPAN("request");
  run_batches(s, [](std::uint64_t i) { BBX_SPAN("step {i}", i); });
}
void span_root_blackbox(benchmark::State& s) {
  bench::peers().reset();
  run_batches(s, [](std::uint64_t i) { BBX_SPAN("step {i}", i); });
}
void span_class_blackbox(benchmark::State& s) {
  bench::peers().reset();
  BBX_SPAN("request");
  run_batches(s, [](std::uint64_t) { const blackbox::Span span("step"); });
}
// The class form with two integer fields (its start record: the name and both).
void span_class_fields_blackbox(benchmark::State& s) {
  bench::peers().reset();
  BBX_SPAN("request");
  run_batches(s, [](std::uint64_t i) {
    const blackbox::Span span("step", blackbox::field<"i">(i), blackbox::field<"j">(i * 3));
  });
}
BENCHMARK(span_child_blackbox);
BENCHMARK(span_root_blackbox);
BENCHMARK(span_class_blackbox);
BENCHMARK(span_class_fields_blackbox);

// Collects ns per record (the median when repetitions are asked for) for the summary.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type == Run::RT_Aggregate && !median) continue;
      const std::string name = run.run_name.function_name;
      const double ns = run.GetAdjustedRealTime() / kBatch;
      if (median || results_.count(name) == 0 || !has_median_[name]) results_[name] = ns;
      if (median) has_median_[name] = true;
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    static const char* kinds[] = {"static_string", "concat",  "one_int",   "two_ints",
                                  "one_double",    "complex", "four_args", "disabled"};
    static const char* loggers[] = {"blackbox", "spdlog_async", "spdlog_sync", "fprintf",
                                    "fmt_fwrite"};
    std::printf("\nns per record (ratio to blackbox), batches of %d, median of repetitions\n",
                kBatch);
    std::printf("%-14s", "message");
    for (const char* l : loggers) std::printf(" %20s", l);
    std::printf("\n");
    for (const char* k : kinds) {
      const auto base = results_.find(std::string(k) + "_blackbox");
      if (base == results_.end()) continue;
      std::printf("%-14s", k);
      for (const char* l : loggers) {
        const auto it = results_.find(std::string(k) + "_" + l);
        if (it == results_.end()) {
          std::printf(" %20s", "-");
        } else {
          std::printf(" %10.1f (%6.1fx)", it->second, it->second / base->second);
        }
      }
      std::printf("\n");
    }
  }

 private:
  std::map<std::string, double> results_;
  std::map<std::string, bool> has_median_;
};

}  // namespace

int main(int argc, char** argv) {
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "hot_path_bench";
  // The flusher runs as in production (on the other core), archiving into the bench
  // directory, which Peers removes at exit.
  config.archive_dir = bench::Peers::dir() + "/archive";
  if (auto r = blackbox::init(config); !r.ok()) std::fprintf(stderr, "%s\n", r.error.c_str());
  benchmark::Initialize(&argc, argv);
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  blackbox::shutdown();
  return 0;
}
