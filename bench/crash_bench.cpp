// The crash path: time from the fault to the end of the crash handler (report written and
// the dump in Config::crash_dir written with plain pwrite), and the dump's size, for 1, 8
// and 64 MiB of rings (4 threads, every ring full). Side by side in the same child: the
// same dump through blackbox::dump(), and the peer an external tool would use, a
// sendfile() copy of the whole ring file.
//
//   build/release/bench/crash_bench [--benchmark_repetitions=5]
//
// Each iteration forks a child that fills its rings, measures the dumps, notes the time,
// and faults; the parent reads the handler's own timestamps from the crash report (both
// CLOCK_MONOTONIC). Rings in $BBX_BENCH_DIR/rings, dumps in $BBX_BENCH_DIR/crashes
// (default /tmp/blackbox-bench: on disk, as a crash directory would be).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "blackbox/reader.hpp"

namespace {

constexpr int kThreads = 4;

std::int64_t monotonic_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

std::string bench_dir() {
  const char* base = std::getenv("BBX_BENCH_DIR");
  return std::string(base != nullptr ? base : "/tmp/blackbox-bench") + "/crash";
}

// What the child reports through its pipe before it faults.
struct ChildReport {
  std::int64_t fault_ns = 0;  // just before the faulting instruction
  double dump_api_ns = 0;     // blackbox::dump() of the same rings (median of 3)
  double sendfile_ns = 0;     // sendfile() of the whole ring file (median of 3)
  char ring_path[256] = {};
};

double median_of_3(double a, double b, double c) {
  return std::max(std::min(a, b), std::min(std::max(a, b), c));
}

[[noreturn]] void child(std::uint64_t total_bytes, bool crash_dir, int out) {
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "crash_bench";
  config.dir = bench_dir() + "/rings";
  const std::string dumps = bench_dir() + "/crashes";
  if (crash_dir) config.crash_dir = dumps;
  config.archive_dir.clear();
  config.ring_bytes = total_bytes / kThreads;
  config.block_bytes = 16u << 10;
  config.max_threads = kThreads;
  if (!blackbox::init(config).ok()) _exit(3);
  // Fill every ring: 64-byte records, 1.5 laps each.
  const std::uint64_t records = config.ring_bytes / 64 * 3 / 2;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([records] {
      for (std::uint64_t i = 0; i < records; ++i) {
        BBX_INFO("request {id} user {user} took {ms:.2f} ms", i, i * 7, 1.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  ChildReport report;
  std::snprintf(report.ring_path, sizeof report.ring_path, "%s", blackbox::ring_path().c_str());
  double api[3], copy[3];
  for (int k = 0; k < 3; ++k) {
    const std::string path = dumps + "/api.bbd";
    const std::int64_t t0 = monotonic_ns();
    if (!blackbox::dump(path).empty()) _exit(4);
    api[k] = static_cast<double>(monotonic_ns() - t0);
    std::filesystem::remove(path);
    const std::string copy_path = dumps + "/sendfile.copy";
    const std::int64_t t1 = monotonic_ns();
    const int in = open(report.ring_path, O_RDONLY | O_CLOEXEC);
    const int to = open(copy_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    struct stat st {};
    fstat(in, &st);
    off_t offset = 0;
    while (offset < st.st_size &&
           sendfile(to, in, &offset, static_cast<std::size_t>(st.st_size - offset)) > 0) {
    }
    close(in);
    close(to);
    copy[k] = static_cast<double>(monotonic_ns() - t1);
    std::filesystem::remove(copy_path);
  }
  report.dump_api_ns = median_of_3(api[0], api[1], api[2]);
  report.sendfile_ns = median_of_3(copy[0], copy[1], copy[2]);
  report.fault_ns = monotonic_ns();
  if (write(out, &report, sizeof report) != sizeof report) _exit(5);
#if defined(__x86_64__)
  asm volatile("xorl %%eax, %%eax\n\tmovl $1, (%%rax)" ::: "rax", "memory");  // SIGSEGV
#endif
  raise(SIGSEGV);
  _exit(6);
}

void BM_CrashHandler(benchmark::State& state) {
  const auto total = static_cast<std::uint64_t>(state.range(0)) << 20;
  const bool crash_dir = state.range(1) != 0;
  std::filesystem::create_directories(bench_dir() + "/crashes");
  double api = 0, copy = 0, dump_bytes = 0, dump_allocated = 0, handler = 0;
  for (auto _ : state) {
    int fds[2];
    if (pipe(fds) != 0) state.SkipWithError("pipe");
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      child(total, crash_dir, fds[1]);
    }
    close(fds[1]);
    ChildReport report;
    const bool got = read(fds[0], &report, sizeof report) == sizeof report;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!got || !WIFSIGNALED(status)) {
      state.SkipWithError("the child did not crash as planned");
      break;
    }
    auto reader = blackbox::RingReader::open(report.ring_path);
    const auto info = reader ? reader->info() : blackbox::RingInfo{};
    if (!info.crash || info.crash->handler_end_ns == 0) {
      state.SkipWithError("no crash report");
      break;
    }
    state.SetIterationTime(static_cast<double>(info.crash->handler_end_ns - report.fault_ns) / 1e9);
    handler += static_cast<double>(info.crash->handler_end_ns - info.crash->handler_start_ns);
    api += report.dump_api_ns;
    copy += report.sendfile_ns;
    const std::string dump =
        bench_dir() + "/crashes/crash_bench." + std::to_string(pid) + ".crash.bbd";
    struct stat st {};
    if (stat(dump.c_str(), &st) == 0) {
      dump_bytes += static_cast<double>(st.st_size);
      dump_allocated += static_cast<double>(st.st_blocks) * 512;
    }
    std::filesystem::remove(dump);
    std::filesystem::remove(report.ring_path);
  }
  const auto n = static_cast<double>(state.iterations());
  state.counters["handler_ms"] = handler / n / 1e6;
  state.counters["dump_MiB"] = dump_allocated / n / (1 << 20);
  state.counters["file_MiB"] = dump_bytes / n / (1 << 20);
  state.counters["dump_api_ms"] = api / n / 1e6;
  state.counters["sendfile_ms"] = copy / n / 1e6;
  state.counters["handler_vs_sendfile"] = handler / copy;
}
// Args: MiB of rings; 1 with a crash directory (the handler writes the dump), 0 without
// (the report only: the ring file is the dump).
BENCHMARK(BM_CrashHandler)
    ->ArgNames({"MiB", "crash_dir"})
    ->Args({1, 0})
    ->Args({64, 0})
    ->Args({1, 1})
    ->Args({8, 1})
    ->Args({64, 1})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(10);

}  // namespace

BENCHMARK_MAIN();
