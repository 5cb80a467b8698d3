// End to end: records per second from the first log call until every record is on disk, and
// bytes on disk per record. blackbox (ring -> flusher -> zstd archive) side by side with
// spdlog async writing the same messages as text, and that text compressed with zstd -1
// and -3, in one run. The message is the 4-argument target message.
//
//   build/release/bench/archive_bench [--benchmark_repetitions=5]
//
// blackbox producers never wait for the flusher: logging faster than it drains overwrites
// the oldest records (counted). So blackbox runs twice: unpaced (as fast as the producer
// can; the `lost` counter says what did not make it) and paced at a fixed offered rate (M
// records/s), which finds the highest rate that arrives with zero loss. spdlog's queue
// blocks the producer when full, so it never loses and needs no pacing.
#include <benchmark/benchmark.h>
#include <spdlog/async.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "messages.hpp"
#include "workload.hpp"

namespace {

// Records per iteration, split over the producers: 4 M, or BBX_E2E_RECORDS (e.g. 300000000
// for 30 s at 10 M records/s).
const std::uint64_t kRecords = [] {
  const char* v = std::getenv("BBX_E2E_RECORDS");
  const std::uint64_t n = v != nullptr ? std::strtoull(v, nullptr, 10) : 0;
  return n != 0 ? n : std::uint64_t{4'000'000};
}();

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Logs records [first, first + n) of the 4-argument message; `rate` > 0 paces the calls to
// that many records per second (checked every 256 records).
void produce(int kind, std::uint64_t first, std::uint64_t n, double rate) {
  const auto start = Clock::now();
  for (std::uint64_t k = 0; k < n; ++k) {
    const bench::Values v = bench::values(kind, first + k);
    BBX_INFO(BENCH_FOUR_FMT, v.id, v.ms, v.status, v.user);
    if (rate > 0 && (k & 255) == 255) {
      while (seconds_since(start) * rate < static_cast<double>(k)) {
      }
    }
  }
}

// range(0) producers; unpaced when range(1) == 0, else paced at range(1) M records/s in
// total; range(2) the workload.
void e2e_blackbox(benchmark::State& state) {
  const auto threads = static_cast<std::uint64_t>(state.range(0));
  const double rate = static_cast<double>(state.range(1)) * 1e6 / static_cast<double>(threads);
  const auto kind = static_cast<int>(state.range(2));
  std::uint64_t next = 0;
  double bytes = 0, lost = 0, waited_ns = 0;
  for (auto _ : state) {
    const blackbox::Stats before = blackbox::stats();
    const auto start = Clock::now();
    std::vector<std::thread> producers;
    for (std::uint64_t t = 0; t < threads; ++t) {
      producers.emplace_back(produce, kind, next + t * (kRecords / threads), kRecords / threads,
                             rate);
    }
    for (auto& p : producers) p.join();
    if (!blackbox::flush()) state.SkipWithError("flush failed");
    state.SetIterationTime(seconds_since(start));
    next += kRecords;
    const blackbox::Stats after = blackbox::stats();
    bytes += static_cast<double>(after.archive_bytes_written - before.archive_bytes_written);
    lost += static_cast<double>(after.lost_overwritten - before.lost_overwritten);
    waited_ns += static_cast<double>(after.producer_wait_ns - before.producer_wait_ns);
  }
  const auto total = static_cast<double>(state.iterations() * kRecords);
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
  state.counters["B/rec"] = bytes / (total - lost);
  state.counters["lost"] = lost / static_cast<double>(state.iterations());
  // BBX_WHEN_FULL=wait: seconds each producer spent waiting for the archive, per run.
  state.counters["waited s"] =
      waited_ns / 1e9 /
      static_cast<double>(threads * static_cast<std::uint64_t>(state.iterations()));
}

std::uint64_t file_size(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

std::uint64_t zstd_size(const std::string& path, int level) {
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string out(ZSTD_compressBound(text.size()), '\0');
  const std::size_t n = ZSTD_compress(out.data(), out.size(), text.data(), text.size(), level);
  return ZSTD_isError(n) ? 0 : n;
}

std::string bench_dir() {
  const char* base = std::getenv("BBX_BENCH_DIR");
  return base != nullptr ? base : "/tmp/blackbox-bench";
}

// spdlog async with its documented defaults (8192-entry queue, one worker, a full queue
// blocks the caller) writing to a file. "On disk" is when the pool, destroyed, has joined
// its worker: the queue is FIFO, so everything logged before has been written by then.
void e2e_spdlog_async(benchmark::State& state) {
  const auto threads = static_cast<std::uint64_t>(state.range(0));
  const auto kind = static_cast<int>(state.range(1));
  const std::string path = bench_dir() + "/e2e_async.log";
  double text = 0, z1 = 0, z3 = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    {
      auto pool = std::make_shared<spdlog::details::thread_pool>(8192, 1);
      auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, true);
      auto log = std::make_shared<spdlog::async_logger>("e2e", sink, pool,
                                                        spdlog::async_overflow_policy::block);
      std::vector<std::thread> producers;
      for (std::uint64_t t = 0; t < threads; ++t) {
        producers.emplace_back([&log, t, threads, kind] {
          const std::uint64_t n = kRecords / threads, first = t * n;
          for (std::uint64_t i = first; i < first + n; ++i) {
            const bench::Values v = bench::values(kind, i);
            log->info(BENCH_FOUR_FMT, v.id, v.ms, v.status, v.user);
          }
        });
      }
      for (auto& p : producers) p.join();
      log->flush();
      log.reset();
      pool.reset();  // joins the worker after it has written the whole queue
    }
    state.SetIterationTime(seconds_since(start));
    text += static_cast<double>(file_size(path));
    z1 += static_cast<double>(zstd_size(path, 1));
    z3 += static_cast<double>(zstd_size(path, 3));
  }
  std::filesystem::remove(path);
  const auto total = static_cast<double>(state.iterations() * kRecords);
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
  state.counters["B/rec"] = text / total;
  state.counters["zstd1 B/rec"] = z1 / total;
  state.counters["zstd3 B/rec"] = z3 / total;
}

BENCHMARK(e2e_blackbox)
    ->ArgsProduct({{1, 2}, {0}, {0, 1}})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(e2e_blackbox)
    ->ArgsProduct({{1, 2}, {10, 20, 30}, {0, 1}})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(e2e_spdlog_async)
    ->ArgsProduct({{1, 2}, {0, 1}})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Keeps the median (or only) run of each benchmark for the summary.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type == Run::RT_Aggregate && !median) continue;
      const std::string name = run.run_name.function_name + "/" + run.run_name.args;
      if (!median && has_median_[name]) continue;
      if (median) has_median_[name] = true;
      Row& row = rows_[name];
      row.mrec_s = run.counters.at("items_per_second") / 1e6;
      for (const auto& [key, counter] : run.counters) row.counters[key] = counter.value;
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\nend to end, 4-argument message, %llu records per run (median of repetitions)\n",
                static_cast<unsigned long long>(kRecords));
    for (int kind = 0; kind < 2; ++kind) {
      const std::string suffix = "/" + std::to_string(kind);
      const auto base = rows_.find("e2e_spdlog_async/1" + suffix);
      if (base == rows_.end()) continue;
      const double z1 = base->second.counters["zstd1 B/rec"];
      const double z3 = base->second.counters["zstd3 B/rec"];
      const double spdlog_rate = base->second.mrec_s;
      std::printf("\nworkload %s\n",
                  kind == 0 ? "regular (hot-path values)" : "service (varied values)");
      std::printf("%-24s %9s %12s %10s %10s %10s %11s %9s\n", "run", "offered", "kept M/s",
                  "x spdlog", "lost", "B/record", "x zstd -1", "waited s");
      for (auto& [name, row] : rows_) {
        if (name.size() < suffix.size() ||
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
          continue;
        }
        // Records that reached the disk per second of the run (offered minus lost).
        const double kept =
            row.mrec_s * (1.0 - row.counters["lost"] / static_cast<double>(kRecords));
        std::printf("%-24s %9.2f %12.2f %9.2fx %10.0f %10.2f %10.2fx %9.3f\n", name.c_str(),
                    row.mrec_s, kept, kept / spdlog_rate, row.counters["lost"],
                    row.counters["B/rec"], row.counters["B/rec"] / z1, row.counters["waited s"]);
      }
      std::printf("%-24s %9s %12s %10s %10s %10.2f %10.2fx\n", "spdlog text | zstd -1", "", "", "",
                  "", z1, 1.0);
      std::printf("%-24s %9s %12s %10s %10s %10.2f %10.2fx\n", "spdlog text | zstd -3", "", "", "",
                  "", z3, z3 / z1);
    }
    std::printf(
        "(e2e_blackbox/T/R/W: T producers, R = 0 unpaced, else paced at R M records/s,\n"
        " W workload; e2e_spdlog_async/T/W. offered: records logged per second of the\n"
        " run, which ends when all are on disk; kept: the same minus lost records;\n"
        " waited s: seconds each producer waited for the archive, BBX_WHEN_FULL=wait only)\n");
  }

 private:
  struct Row {
    double mrec_s = 0;
    std::map<std::string, double> counters;
  };
  std::map<std::string, Row> rows_;
  std::map<std::string, bool> has_median_;
};

}  // namespace

int main(int argc, char** argv) {
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "archive_bench";
  config.archive_dir = bench_dir() + "/archive";
  std::filesystem::remove_all(config.archive_dir);
  config.retain_bytes = 0;
  if (auto r = blackbox::init(config); !r.ok()) std::fprintf(stderr, "%s\n", r.error.c_str());
  benchmark::Initialize(&argc, argv);
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  blackbox::shutdown();
  std::filesystem::remove_all(config.archive_dir);
  return 0;
}
