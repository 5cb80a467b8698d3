// A helper process for the tests: a child that logs and acknowledges (to be killed), an
// external reader of a live ring, and a logger whose ring directory is unusable.
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "blackbox/metrics.hpp"
#include "blackbox/reader.hpp"
#include "blackbox/span.hpp"
#include "crash/crash_handler.hpp"
#include "format/archive_format.hpp"
#include "format/chunk_decoder.hpp"
#include "format/frame.hpp"
#include "format/metrics_area.hpp"
#include "ring/full_wait.hpp"
#include "ring/ring_memory.hpp"
#include "sys/sys.hpp"

namespace {

int usage() {
  std::fprintf(
      stderr,
      "usage: helper log-ack | echo-log | read RING_PATH FIRST_WRITER END_WRITER | report "
      "| enospc |\n"
      "       eacces | nomem | archive-exit return|exit|shutdown | archive-seed OUT |\n"
      "       seed OUT empty|mixed|wrapped | crash KIND THREADS | start APP | export-sample |\n"
      "       console THREADS RECORDS | console-crash | console-span | capture-early | "
      "capture-crash | "
      "capture-console |\n"
      "       capture-grandchild\n");
  return 2;
}

bool write_all(int fd, const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// Logs numbered records forever; after each call returns, writes its number (8 bytes) to
// stdout. The parent kills it with SIGKILL at a moment of its choosing.
int log_ack() {
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "crashy";
  config.ring_bytes = 64 * 1024;
  config.block_bytes = 4096;
  config.max_string_bytes = 1024;
  if (auto r = blackbox::init(config); !r.ok()) {
    std::fprintf(stderr, "%s\n", r.error.c_str());
    return 1;
  }
  const std::string path = blackbox::ring_path();
  const std::uint64_t header = path.size();
  if (!write_all(1, &header, sizeof header) || !write_all(1, path.data(), path.size())) return 1;
  for (std::uint64_t i = 0;; ++i) {
    BBX_LOG("crash", blackbox::Level::info, "record {} payload {}", i, i * 7);
    if (!write_all(1, &i, sizeof i)) return 0;
  }
}

// wait-crash: logs "n {}" in wait mode (Config::when_full; 64 KiB ring, 4 KiB blocks) and
// acknowledges each call on stdout (8 bytes); after 100 records (flushed) the disk hangs for
// good, and once the producer waits for the archive another thread aborts the process.
std::atomic<bool> g_disk_hangs{false};
ssize_t hanging_write(int fd, const void* data, std::size_t bytes) {
  while (g_disk_hangs.load()) pause();
  return ::write(fd, data, bytes);
}

int wait_crash() {
  blackbox::sys::calls().write = hanging_write;  // before the flusher starts
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "waitcrash";
  config.ring_bytes = 64 * 1024;
  config.block_bytes = 4096;
  config.max_string_bytes = 1024;
  config.flush_interval_ms = 60000;
  config.when_full = blackbox::WhenFull::wait;
  config.max_wait = std::chrono::hours(1);
  if (auto r = blackbox::init(config); !r.ok()) {
    std::fprintf(stderr, "%s\n", r.error.c_str());
    return 1;
  }
  std::uint64_t i = 0;
  for (; i < 100; ++i) {
    BBX_INFO("n {}", i);
    if (!write_all(1, &i, sizeof i)) return 1;
  }
  if (!blackbox::flush()) return 1;
  g_disk_hangs = true;
  std::thread([] {
    while (!blackbox::ring::producers_waiting()) sched_yield();
    std::abort();
  }).detach();
  for (;; ++i) {
    BBX_INFO("n {}", i);
    if (!write_all(1, &i, sizeof i)) return 1;
  }
}

// Reads a live ring from outside until stdin closes, checking every record: writer w logs
// "w {} i {}" with i counting from 0 in its own slot, so i must equal the record's sequence
// number (no torn, duplicated or reordered record) and every gap must be counted loss.
int read_ring(const char* path, std::uint64_t first_writer, std::uint64_t end_writer) {
  std::string error;
  auto reader = blackbox::RingReader::open(path, &error);
  if (!reader) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  std::map<std::uint64_t, std::uint64_t> last;  // writer -> last i
  std::map<std::uint64_t, std::uint64_t> count;
  std::map<std::uint32_t, std::uint64_t> slot_writer;
  std::uint64_t bad = 0;
  auto check = [&](const blackbox::Record& r) {
    if (r.tag != "stress") return;
    if (r.fields.size() != 2) {
      ++bad;
      return;
    }
    const auto w = std::get<std::uint64_t>(r.fields[0].value);
    const auto i = std::get<std::uint64_t>(r.fields[1].value);
    if (w < first_writer || w >= end_writer) return;  // another test's writer
    slot_writer[r.slot] = w;
    if (i != r.sequence) ++bad;
    if (count[w] > 0 && i <= last[w]) ++bad;
    if (r.message != "w " + std::to_string(w) + " i " + std::to_string(i)) ++bad;
    last[w] = i;
    ++count[w];
  };
  pollfd in{0, POLLIN, 0};
  std::uint64_t polls = 0;
  while (true) {
    reader->poll(check);
    ++polls;
    if (::poll(&in, 1, 0) > 0) {
      char buf[64];
      if (read(0, buf, sizeof buf) <= 0) break;  // parent closed the pipe: writers are done
    }
  }
  reader->poll(check);
  std::map<std::uint32_t, std::uint64_t> lost_by_slot;
  std::uint64_t corrupt = 0;  // a healthy ring is lapped, never damaged
  for (const auto& l : reader->losses()) {
    if (slot_writer.count(l.slot) != 0) lost_by_slot[l.slot] += l.records;
    corrupt += l.corrupt_bytes;
  }
  std::uint64_t lost = 0;
  for (const auto& [slot, n] : lost_by_slot) lost += n;
  std::uint64_t records = 0;
  for (const auto& [w, n] : count) records += n;
  std::printf("records=%llu lost=%llu bad=%llu writers=%zu corrupt=%llu polls=%llu\n",
              static_cast<unsigned long long>(records), static_cast<unsigned long long>(lost),
              static_cast<unsigned long long>(bad), count.size(),
              static_cast<unsigned long long>(corrupt), static_cast<unsigned long long>(polls));
  return bad == 0 && corrupt == 0 ? 0 : 3;
}

// Logs a few records with whatever BBX_* environment it was given, reads them back from
// its own ring, and reports.
// Names in `dir` ending with `suffix` (files another process could take for ours).
int count_named(const char* dir, const char* suffix) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() >= std::strlen(suffix) &&
        name.compare(name.size() - std::strlen(suffix), std::strlen(suffix), suffix) == 0) {
      ++n;
    }
  }
  return n;
}

// "create-visible": whether a ring file or an archive file can be seen under its final
// name before it is locked and has its header. The seam stops the creation halfway (the
// ring's space reservation; the archive's first write) and looks at the directory.
int create_visible() {
  static int ring_seen = -1, archive_seen = -1;
  blackbox::sys::calls().posix_fallocate = [](int fd, off_t offset, off_t length) {
    if (ring_seen < 0) ring_seen = count_named(std::getenv("BBX_DIR"), ".bbr");
    return ::posix_fallocate(fd, offset, length);
  };
  blackbox::sys::calls().write = [](int fd, const void* data, std::size_t bytes) -> ssize_t {
    if (archive_seen < 0) archive_seen = count_named(std::getenv("BBX_ARCHIVE_DIR"), ".bbx");
    return ::write(fd, data, bytes);
  };
  BBX_INFO("one {}", 1);
  const bool flushed = blackbox::flush();
  std::printf(
      "ring_visible_while_created=%d archive_visible_while_created=%d flushed=%d "
      "rings_now=%d archives_now=%d\n",
      ring_seen, archive_seen, flushed ? 1 : 0, count_named(std::getenv("BBX_DIR"), ".bbr"),
      count_named(std::getenv("BBX_ARCHIVE_DIR"), ".bbx"));
  return 0;
}

int log_and_report() {
  BBX_INFO("one {}", 1);
  BBX_WARN("two {}", 2);
  BBX_ERROR("three {}", 3);
  BBX_INFO("four {}", 4);
  auto reader = blackbox::RingReader::open_self();
  if (!reader) return 1;
  std::size_t n = 0;
  reader->poll([&](const blackbox::Record&) { ++n; });
  const auto stats = blackbox::stats();
  std::printf("records=%zu anonymous=%d path=[%s]\n", n, stats.anonymous_ring ? 1 : 0,
              blackbox::ring_path().c_str());
  return 0;
}

// Writes a small real ring file to `out`, for the fuzz corpus: kind "empty" (header and
// nothing logged), "mixed" (every argument type, trace context, truncation), "wrapped"
// (two threads, each lapping its ring several times).
int write_seed(const std::string& out, const std::string& kind) {
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "seed";
  config.ring_bytes = 64 * 1024;
  config.block_bytes = 4096;
  config.max_threads = 2;
  config.site_table_bytes = 64 * 1024;
  config.max_string_bytes = 64;
  config.metric_cells = 512;  // the smallest metrics region (format version 3)
  if (auto r = blackbox::init(config); !r.ok()) return 1;
  if (kind == "metrics") {
    const blackbox::Counter requests{"http.requests", {{"route", "/a"}, {"status", "200"}}};
    const blackbox::Gauge depth{"queue.depth", {}, blackbox::MetricUnit::bytes, "bytes queued"};
    const blackbox::TextMetric version{"build.version"};
    std::thread([&] { requests.add(5); }).join();
    requests.add(7);
    depth.set(-3);
    version.set("1.2.3");
    BBX_INFO("with metrics {}", 1);
  } else if (kind == "empty") {
    BBX_TRACE("filtered out");  // starts the ring; trace is below the default level
  } else if (kind == "mixed") {
    auto ctx =
        blackbox::TraceContext::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    for (int i = 0; i < 50; ++i) {
      BBX_INFO("ints {} {} {} {} {:x}", static_cast<std::int8_t>(i), static_cast<std::int16_t>(-i),
               i, static_cast<long long>(i) << 40, static_cast<unsigned>(i));
      BBX_WARN("float {:.2f} double {:e} bool {} char {} ptr {}", 0.5f * static_cast<float>(i),
               1.0 / (i + 1), i % 2 == 0, static_cast<char>('a' + i % 26),
               static_cast<const void*>(&config));
      blackbox::TraceScope scope(*ctx);
      BBX_ERROR("string {name:>10} long {long}", std::string(static_cast<std::size_t>(i % 7), 'x'),
                std::string(100, 'y'));
    }
  } else if (kind == "wrapped") {
    std::thread other([] {
      for (std::uint64_t i = 0; i < 6000; ++i) BBX_INFO("other {} {}", i, "thread");
    });
    for (std::uint64_t i = 0; i < 6000; ++i) BBX_INFO("main {} {}", i, 2.5);
    other.join();
  } else {
    return usage();
  }
  std::ifstream in(blackbox::ring_path(), std::ios::binary);
  std::ofstream(out, std::ios::binary) << in.rdbuf();
  return 0;
}

// Logs 30,000 numbered records (fewer than the default ring holds, so none can be
// overwritten before the final flush), then leaves by `how`: "return" from main, "exit" (std::exit
// from a function, as a library would), or an explicit "shutdown" first. The archive must
// hold every record and the ring file must be gone.
// Logs each line read from stdin as a record of its own (tag "echo"), flushing it to the
// archive when asked (a line starting with '!'), and acknowledges each on stdout once it
// is logged. Exits normally at the end of stdin (the archive then has everything).
int echo_log() {
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "echo";
  if (auto r = blackbox::init(config); !r.ok()) {
    std::fprintf(stderr, "%s\n", r.error.c_str());
    return 1;
  }
  BBX_LOG("echo", blackbox::Level::info, "ready");
  std::printf("ready\n");
  std::fflush(stdout);
  char line[4096];
  while (std::fgets(line, sizeof line, stdin) != nullptr) {
    std::string text(line);
    if (!text.empty() && text.back() == '\n') text.pop_back();
    const bool flush = !text.empty() && text[0] == '!';
    if (flush) text.erase(0, 1);
    BBX_LOG("echo", blackbox::Level::info, "{line}", text);
    if (text == "crash!") *static_cast<volatile int*>(nullptr) = 1;  // a follower sees it
    if (flush && !blackbox::flush()) return 1;
    std::printf("%s\n", text.c_str());
    std::fflush(stdout);
  }
  return 0;
}

// For control from outside: for each line N read from stdin, one debug and one info record
// of tag "net" (and one info of tag "db"), then a flush to the archive (not for "+N"), then
// "N" echoed. The
// test decides the levels from outside (logcat ctl); nothing here calls set_level.
int ctl_child() {
  blackbox::Config config = blackbox::Config::from_env();
  if (std::getenv("BBX_APP") == nullptr) config.app = "ctlchild";  // the runbook names it
  if (auto r = blackbox::init(config); !r.ok()) {
    std::fprintf(stderr, "%s\n", r.error.c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  // Metrics for the runbook's `logcat metrics`: a request per line, and how long its three
  // log calls took.
  static const blackbox::Counter requests{"http.server.requests", {{"route", "/orders"}}};
  static const blackbox::Histogram latency{
      "http.server.latency", {{"route", "/orders"}}, blackbox::MetricUnit::nanoseconds};
  char line[256];
  while (std::fgets(line, sizeof line, stdin) != nullptr) {
    const long n = std::strtol(line, nullptr, 10);
    requests.add();
    auto timer = latency.time();
    BBX_LOG("net", blackbox::Level::debug, "net debug {n}", n);
    BBX_LOG("net", blackbox::Level::info, "net info {n}", n);
    BBX_LOG("db", blackbox::Level::info, "db info {n}", n);
    if (line[0] != '+' && !blackbox::flush()) return 1;  // "+N": left to the flusher
    std::printf("%ld\n", n);
    std::fflush(stdout);
  }
  return 0;
}

// A process with metrics, driven line by line from stdin (metrics_test, the Prometheus
// test, the runbook):
//   "add N"    N requests from 2 threads: the counter, the latency histogram (values
//              1000 * i, i = 1..N, split between the threads), the gauge set to N, the text
//              metric set; then "acked C H" (the counter and the histogram's count, as this
//              process reads them back)
//   "pace R"   from now on the counter grows at R per second (by its steady clock, every
//              millisecond) until stdin closes; nothing is printed
//   "crash"    a null pointer write
// App name "metricschild" unless BBX_APP says otherwise.
// "hostile-metrics": a process whose metrics table holds what the library refuses to
// declare, written into its ring file by hand (a forged or foreign file would): names and tags
// whose Prometheus series meet, reserved and repeated labels, a value that is not UTF-8. One
// good counter ("good.requests" = 3) beside them. Says "ready", waits for stdin to close.
int hostile_metrics() {
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "hostile";
  if (auto r = blackbox::init(config); !r.ok()) return 1;
  static const blackbox::Counter good{"good.requests"};
  good.add(3);
  blackbox::ring::RingMemory* ring = blackbox::ring::own_ring();
  blackbox::ring::MetricsHeader* header = ring != nullptr ? ring->metrics() : nullptr;
  if (header == nullptr) return 1;
  struct Entry {
    blackbox::MetricKind kind;
    const char* name;
    std::string tags;
  };
  const Entry entries[] = {
      {blackbox::MetricKind::counter, "x", ""},
      {blackbox::MetricKind::gauge, "x_total", ""},  // x's series
      {blackbox::MetricKind::gauge, "labels", "k.l=1\nk_l=2"},
      {blackbox::MetricKind::gauge, "reserved", "__name__=up"},
      {blackbox::MetricKind::gauge, "utf8", std::string("k=\xff\xfe")},
      {blackbox::MetricKind::gauge, "q.r", ""},
      {blackbox::MetricKind::gauge, "q_r", ""},
      {blackbox::MetricKind::gauge, "q-r", ""},
      {blackbox::MetricKind::histogram, "h", ""},
      {blackbox::MetricKind::gauge, "h_count", ""},  // h's series
      {blackbox::MetricKind::gauge, "help", ""},
  };
  std::uint32_t cell = 1000;
  for (const Entry& e : entries) {
    const std::uint32_t index = header->defined.load(std::memory_order_relaxed);
    if (!ring->reserve_metric_entry(index)) return 1;
    blackbox::ring::write_metric_entry(
        reinterpret_cast<std::byte*>(header), index, e.kind, blackbox::MetricUnit::none, e.name,
        e.tags, std::string_view(e.name) == "help" ? "line\none \xff" : "", cell);
    cell += blackbox::ring::metric_cells(e.kind);
  }
  std::printf("ready\n");
  std::fflush(stdout);
  char line[64];
  while (std::fgets(line, sizeof line, stdin) != nullptr) {
  }
  return 0;
}

int metrics_child() {
  blackbox::Config config = blackbox::Config::from_env();
  if (std::getenv("BBX_APP") == nullptr) config.app = "metricschild";
  if (auto r = blackbox::init(config); !r.ok()) {
    std::fprintf(stderr, "%s\n", r.error.c_str());
    return 1;
  }
  static const blackbox::Counter requests{
      "http.server.requests", {{"route", "/login"}}, "requests served"};
  static const blackbox::Histogram latency{"http.server.latency",
                                           {{"route", "/login"}},
                                           blackbox::MetricUnit::nanoseconds,
                                           "time to answer"};
  static const blackbox::Gauge depth{"queue.depth"};
  static const blackbox::TextMetric version{"build.version"};
  version.set("1.2.3-test");
  std::printf("ready\n");
  std::fflush(stdout);
  char line[256];
  while (std::fgets(line, sizeof line, stdin) != nullptr) {
    const std::string_view command(line);
    if (command.starts_with("add ")) {
      const std::uint64_t n = std::strtoull(line + 4, nullptr, 10);
      auto work = [n](std::uint64_t from) {
        for (std::uint64_t i = from; i <= n; i += 2) {
          requests.add();
          latency.record(1000 * i);
        }
      };
      std::thread a(work, 1), b(work, 2);
      a.join();
      b.join();
      depth.set(static_cast<std::int64_t>(n));
      std::printf("acked %llu %llu\n", static_cast<unsigned long long>(requests.value()),
                  static_cast<unsigned long long>(latency.value().count()));
      std::fflush(stdout);
    } else if (command.starts_with("pace ")) {
      const double rate = std::strtod(line + 5, nullptr);
      std::atomic<bool> done{false};
      std::thread pacer([&] {
        const auto start = std::chrono::steady_clock::now();
        std::uint64_t added = 0;
        while (!done.load(std::memory_order_relaxed)) {
          const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
          const auto target = static_cast<std::uint64_t>(rate * elapsed.count());
          if (target > added) requests.add(target - added);
          added = std::max(added, target);
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      });
      while (std::fgets(line, sizeof line, stdin) != nullptr) {
      }
      done.store(true);
      pacer.join();
      return 0;
    } else if (command.starts_with("crash")) {
      volatile int* nothing = nullptr;
      *nothing = 1;
    }
  }
  return 0;
}

// "archive-exit-full": the disk is full for the archive (every write to a descriptor other
// than stdout and stderr fails with ENOSPC) from the first record to the normal exit.
int archive_exit_full() {
  blackbox::sys::calls().write = [](int fd, const void* data, std::size_t n) -> ssize_t {
    if (fd > 2) {
      errno = ENOSPC;
      return -1;
    }
    return ::write(fd, data, n);
  };
  for (std::uint64_t i = 0; i < 5'000; ++i) BBX_INFO("n {}", i);
  return 0;
}

int archive_exit(const std::string& how) {
  for (std::uint64_t i = 0; i < 30'000; ++i) BBX_INFO("n {}", i);
  if (how == "exit") std::exit(0);
  if (how == "shutdown") blackbox::shutdown();
  return 0;
}

// Writes a seed for the archive_reader fuzz target (its input format is described there):
// a real archive of mixed records, converted frame by frame into the target's items.
int archive_seed(const std::string& out) {
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "seed";
  config.levels = "trace";
  if (auto r = blackbox::init(config); !r.ok()) return 1;
  auto ctx =
      blackbox::TraceContext::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  for (int k = 0; k < 3; ++k) {
    for (int i = 0; i < 20; ++i) {
      BBX_INFO("ints {} {} {} {:x}", static_cast<std::int8_t>(i), static_cast<std::int16_t>(-i), i,
               static_cast<unsigned>(i));
      BBX_WARN("float {:.2f} double {:e} bool {} char {}", 0.5f * static_cast<float>(i),
               1.0 / (i + 1), i % 2 == 0, static_cast<char>('a' + i % 26));
      blackbox::TraceScope scope(*ctx);
      BBX_ERROR("string {name:>10} again {name2}",
                std::string(static_cast<std::size_t>(i % 7), 'x'), "same");
    }
    if (!blackbox::flush()) return 1;
  }
  const std::string archive = blackbox::archive_path();
  blackbox::shutdown();
  std::ifstream in(archive, std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string items(1, '\0');  // options: no trace filter
  auto put16 = [&](std::size_t v) {
    const auto u = static_cast<std::uint16_t>(v);
    items.append(reinterpret_cast<const char*>(&u), 2);
  };
  blackbox::archive::FrameScanner scanner(
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(file.data()), file.size()));
  while (const auto frame = scanner.next()) {
    const auto* payload = reinterpret_cast<const char*>(frame->payload.data());
    if (frame->type != static_cast<std::uint16_t>(blackbox::archive::FrameType::chunk)) {
      items.push_back('\1');
      put16(frame->type);
      put16(frame->payload.size());
      items.append(payload, frame->payload.size());
      continue;
    }
    blackbox::archive::ChunkIndex index;
    std::memcpy(&index, payload, sizeof index);
    const std::size_t head = sizeof index + index.tid_count * 4u;
    blackbox::archive::ChunkDecoder decoder;
    if (!decoder
             .unpack(index, {reinterpret_cast<const std::uint8_t*>(payload) + head,
                             frame->payload.size() - head})
             .empty()) {
      return 1;
    }
    const auto body = decoder.body();
    items.push_back('\2');
    put16(head);
    put16(body.size());
    items.append(payload, head);
    items.append(reinterpret_cast<const char*>(body.data()), body.size());
    if (index.codec == blackbox::archive::kCodecBits) {  // the raw part's size, as written
      std::uint32_t stored;
      std::memcpy(&stored, payload + head, 4);
      put16(stored);
    }
  }
  std::ofstream(out, std::ios::binary) << items;
  return 0;
}

}  // namespace

// Writes one line to stdout with a single write() (atomic on a pipe: threads never mix).
void say_line(const std::string& line) { (void)write_all(1, line.data(), line.size()); }

// The faults, written so that no sanitizer sees undefined behaviour first: the CPU raises
// them (inline assembly), or the library does. One function each, so that no compiler
// moves the faulting path out of line (the test looks for the function on the stack).
[[gnu::noinline]] void crash_segv() {
  volatile std::uintptr_t address = 0;  // a null pointer the compiler cannot see
  const std::uintptr_t target = address;
  asm volatile("movl $1, (%0)" : : "r"(target) : "memory");
}
[[gnu::noinline]] void crash_fpe() {
  volatile int zero = 0;
  const int divisor = zero;
  int quotient = 0;
  asm volatile("movl $1, %%eax; cltd; idivl %1" : "=&a"(quotient) : "r"(divisor) : "edx");
  (void)quotient;
}
[[gnu::noinline]] void crash_ill() { __builtin_trap(); }
// A mapped page of a file that no longer reaches it.
[[gnu::noinline]] volatile char* page_past_end_of_file() {
  char name[] = "/tmp/blackbox-bus-XXXXXX";
  const int fd = mkstemp(name);
  unlink(name);
  (void)!ftruncate(fd, 4096);
  auto* page =
      static_cast<volatile char*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  (void)!ftruncate(fd, 0);
  return page;
}
[[gnu::noinline]] void crash_bus() {
  volatile char* page = page_past_end_of_file();
  page[0] = 1;
}
[[gnu::noinline]] void crash_abort() { std::abort(); }
[[gnu::noinline]] void crash_throw() { throw std::runtime_error("the test threw this"); }
[[gnu::noinline]] void crash_wait() {
  for (;;) pause();  // for SIGKILL
}

// Crashes on purpose: `threads` threads log numbered records and acknowledge each on
// stdout ("ack T I") once the call returned; once each has logged 100, the main thread says
// "crash TID ADDR" (its tid, and the address of the crashing function) and crashes as
// `kind` says, while the others keep logging. "prev" first installs a SIGSEGV handler of
// its own, which must still run ("prev" on stdout) after blackbox's.
int crash(const std::string& kind, int threads) {
  if (kind == "prev") {
    struct sigaction action {};
    action.sa_handler = [](int) {
      (void)!write(1, "prev\n", 5);
      signal(SIGSEGV, SIG_DFL);  // the fault repeats on return, and kills
    };
    sigaction(SIGSEGV, &action, nullptr);
  }
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "crash";
  // Without BBX_ARCHIVE_DIR the records stay in the ring file only; with it, what was
  // logged before the flush below is archived, the rest only in the ring.
  if (std::getenv("BBX_ARCHIVE_DIR") == nullptr) config.archive_dir.clear();
  // "lazy-segv": no init(); the first record starts the logger from the environment.
  if (kind == "lazy-segv") {
    BBX_INFO("started lazily");
  } else if (auto r = blackbox::init(config); !r.ok()) {
    std::fprintf(stderr, "%s\n", r.error.c_str());
    return 1;
  }
  say_line("ring " + blackbox::ring_path() + "\n");
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([t, &ready, &go, all = kind == "segv-all"] {
      for (int i = 0; i < 3000; ++i) {
        BBX_INFO("thread {t} record {i}", t, i);
        say_line("ack " + std::to_string(t) + " " + std::to_string(i) + "\n");
        if (i == 100) ready.fetch_add(1);
        if (all && i >= 100) break;
      }
      if (all) {  // every thread crashes at once (as near as the scheduler lets them)
        say_line("crasher " + std::to_string(gettid()) + "\n");
        while (!go.load()) {
        }
        crash_segv();
      }
      for (;;) pause();
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  if (!config.archive_dir.empty()) (void)blackbox::flush();  // the others keep logging
  // The crash comes inside a trace: the post-mortem view names it for this thread.
  blackbox::TraceScope in_trace(
      *blackbox::TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  // ... and in a span of its own: the crash report names that span (never ended).
  const blackbox::Span request("last request");
  BBX_WARN("about to crash: {kind}", kind);
  go.store(true);
  // The handler itself crashes while it writes the report: of the same signal (blocked
  // while its handler runs: the kernel kills the process), or of another one.
  if (kind == "segv-in-handler") blackbox::crash::set_fault_in_handler_for_testing(crash_segv);
  if (kind == "bus-in-handler") blackbox::crash::set_fault_in_handler_for_testing(crash_bus);
  if (kind == "segv-in-abort-handler") {
    blackbox::crash::set_fault_in_handler_for_testing(crash_segv);
  }
  // "dlopen": the crash comes in a library loaded after init(); the flush lets the flusher
  // read the module map again.
  void (*plugin)() = nullptr;
  if (kind == "dlopen") {
    void* library = dlopen(BBX_TEST_PLUGIN, RTLD_NOW);
    if (library != nullptr)
      plugin = reinterpret_cast<void (*)()>(dlsym(library, "bbx_plugin_crash"));
    if (plugin == nullptr) {
      std::fprintf(stderr, "cannot load %s: %s\n", BBX_TEST_PLUGIN, dlerror());
      return 1;
    }
    (void)blackbox::flush();
  }
  void (*const fault)() = plugin != nullptr ? plugin
                          : kind == "segv" || kind == "prev" || kind == "segv-all" ||
                                  kind == "lazy-segv" || kind == "segv-in-handler" ||
                                  kind == "bus-in-handler"
                              ? crash_segv
                          : kind == "fpe"                                      ? crash_fpe
                          : kind == "ill"                                      ? crash_ill
                          : kind == "bus"                                      ? crash_bus
                          : kind == "abort" || kind == "segv-in-abort-handler" ? crash_abort
                          : kind == "throw"                                    ? crash_throw
                                                                               : crash_wait;
  char line[128];
  std::snprintf(line, sizeof line, "crash %ld %p\n", static_cast<long>(gettid()),
                reinterpret_cast<void*>(fault));
  say_line(line);
  fault();
  return 0;
}

// Starts the logger (which recovers the rings dead processes of the same app left), waits
// for the recovery, says "recovered RINGS RECORDS", and exits.
int start_and_recover(const std::string& app) {
  blackbox::Config config = blackbox::Config::from_env();
  config.app = app;
  if (auto r = blackbox::init(config); !r.ok()) {
    std::fprintf(stderr, "%s\n", r.error.c_str());
    return 1;
  }
  BBX_INFO("started");
  (void)blackbox::flush();  // returns after the flusher's first pass, which follows recovery
  const blackbox::Stats stats = blackbox::stats();
  say_line("recovered " + std::to_string(stats.rings_recovered) + " " +
           std::to_string(stats.records_recovered) + "\n");
  return 0;
}

// Records for the export checks (tests/export): every level, every kind of field value
// (negative, beyond int64, inf and nan, escapes and UTF-8, a pointer, positional "{}"),
// spans nested on one thread and continued on another, a remote parent, and a record with
// no trace. Archived, then shut down.
int export_sample() {
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "export_sample";
  config.levels = "trace";
  if (auto r = blackbox::init(config); !r.ok()) return 1;
  BBX_INFO("started without a trace");
  {
    BBX_SPAN("serve {path}", "/checkout");
    BBX_TRACE("level trace");
    BBX_DEBUG("values {i} {u} {d} {inf} {nan} {b} {c} {s} {p}", std::int64_t{-5},
              std::uint64_t{18'000'000'000'000'000'000u}, 0.1,
              std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(),
              true, 'x', "quote \" newline \n tab \t \u00e9", static_cast<const void*>(&config));
    BBX_INFO("positional {} and {}", 1, 2.5);
    {
      blackbox::Span inner("inner");
      BBX_WARN("inside {what}", "inner");
      const blackbox::Span with_fields("charge", blackbox::field<"order">(std::uint64_t{42}),
                                       blackbox::field<"amount">(12.5));
    }
    const auto context = blackbox::current_trace();
    std::thread([context] {
      pthread_setname_np(pthread_self(), "worker");  // before its first record
      blackbox::TraceScope scope(*context);
      BBX_SPAN("work {n}", 3);
      BBX_ERROR("work failed: {why}", "timeout");
    }).join();
    BBX_FATAL("level fatal");
  }
  for (int i = 0; i < 600; ++i) BBX_DEBUG("batch {i}", i);  // past an OTLP request's 512
  {
    blackbox::TraceScope remote(
        *blackbox::TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    BBX_INFO("under a remote parent");
  }
  // A record in a span's context after the span ended (a thread it was handed to went on).
  std::optional<blackbox::TraceContext> handed_off;
  {
    BBX_SPAN("hand off");
    handed_off = blackbox::current_trace();
  }
  std::thread([handed_off] {
    pthread_setname_np(pthread_self(), "late worker");
    blackbox::TraceScope scope(*handed_off);
    BBX_INFO("after its span ended");
  }).join();
  // A request the process is still inside when it stops, as if it had crashed there: spans
  // that never end (never destroyed: no end record), one inside the other, with a child
  // that ended, and the last record in the innermost.
  alignas(blackbox::Span) unsigned char unfinished[2][sizeof(blackbox::Span)];
  static_cast<void>(new (unfinished[0]) blackbox::Span("unfinished"));
  {
    BBX_SPAN("finished child {n}", 1);
    BBX_INFO("inside the finished child");
  }
  static_cast<void>(new (unfinished[1]) blackbox::Span("unfinished step"));
  BBX_INFO("last words");
  if (!blackbox::flush()) return 1;
  blackbox::shutdown();
  return 0;
}

// Captured stdout and stderr (BBX_CAPTURE=1): lines through printf, std::cout, write(2), a
// partial line and a child process, then a segfault.
int capture_crash() {
  BBX_INFO("capture started");
  std::printf("printf line\n");
  std::cout << "cout line" << std::endl;
  std::cout << "cout line without flush\n";
  if (write(2, "write2 line\n", 12) != 12) return 1;
  if (std::system("echo child line; echo child err >&2") != 0) return 1;
  std::fprintf(stderr, "partial line without newline");
  *static_cast<volatile int*>(nullptr) = 1;
  return 0;
}

// A grandchild that keeps the captured stdout open (a daemon started in the background):
// shutdown() still returns, and fd 1 is the original stdout again.
int capture_grandchild() {
  BBX_INFO("capture started");
  std::fflush(stdout);
  const pid_t holder = fork();
  if (holder == 0) {  // holds fds 1 and 2, the capture's pipes, for 10 minutes
    for (int fd = 3; fd < 1024; ++fd) close(fd);
    alarm(600);
    pause();
    _exit(0);
  }
  std::printf("before shutdown\n");
  blackbox::shutdown();
  std::printf("after shutdown, holder %d\n", static_cast<int>(holder));
  return 0;
}

// The capture and the console together: 3 records, 2 lines to stderr, 1 to stdout; then a
// normal exit (the capture is stopped and fds 1 and 2 restored by shutdown()).
int capture_console() {
  for (int i = 0; i < 3; ++i) BBX_WARN("record {}", i);
  std::fprintf(stderr, "stderr line 0\nstderr line 1\n");
  std::printf("stdout line\n");
  (void)blackbox::flush();
  blackbox::shutdown();
  std::printf("after shutdown\n");  // fd 1 is the original stdout again
  return 0;
}

// The console: THREADS threads log RECORDS records each (every tenth a warning), then the
// logger shuts down (the console's final pass) and the stats are the last line on stdout.
int console_records(int threads, int records) {
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([t, records] {
      for (int i = 0; i < records; ++i) {
        if (i % 10 == 9) {
          BBX_WARN("thread {thread} record {i} of {user}", t, i, "someone");
        } else {
          BBX_INFO("thread {thread} record {i} of {user}", t, i, "someone");
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  blackbox::shutdown();
  const blackbox::Stats s = blackbox::stats();
  std::printf("console_lines=%llu console_not_shown=%llu records_archived=%llu lost=%llu\n",
              static_cast<unsigned long long>(s.console_lines),
              static_cast<unsigned long long>(s.console_not_shown),
              static_cast<unsigned long long>(s.records_archived),
              static_cast<unsigned long long>(s.lost_overwritten));
  return 0;
}

// console-crash: a thread named "worker" logs 20 records and a last one, then dereferences a
// null pointer; the console (BBX_CONSOLE, BBX_CONSOLE_MS from the caller) must show all 21
// lines before the crash notice. Says "pid P tid T" on stdout first. No core file.
int console_crash() {
  const rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  if (!blackbox::init(blackbox::Config::from_env()).ok()) return 1;
  std::thread worker([] {
    pthread_setname_np(pthread_self(), "worker");
    std::printf("pid %d tid %d\n", static_cast<int>(getpid()), static_cast<int>(gettid()));
    std::fflush(stdout);
    for (int i = 0; i < 20; ++i) BBX_INFO("request {} served", i);
    BBX_WARN("about to dereference a null pointer");
    *static_cast<volatile int*>(nullptr) = 1;
  });
  worker.join();
  return 0;
}

// console-span: a BBX_SPAN with a record inside, then shutdown (the console's last lines).
int console_span() {
  {
    BBX_SPAN("handle {}", 0);
    BBX_INFO("worker {}: request {}", 0, 0);
  }
  blackbox::shutdown();
  return 0;
}

// capture-exit HOW: a record, 1,000 printf lines and 100 write(2) lines to stderr, then the
// process ends without a word: "_exit" (_exit(3)) or "kill" (SIGKILL to itself);
// "_exit-unlogged" is "_exit" without the record (the logger may never start). BBX_CAPTURE=1.
int capture_exit(const std::string& how) {
  if (how != "_exit-unlogged") BBX_INFO("started");
  for (int i = 0; i < 1000; ++i) std::printf("line %d\n", i);
  std::fflush(stdout);
  for (int i = 0; i < 100; ++i) {
    char text[32];
    const int n = std::snprintf(text, sizeof text, "err %d\n", i);
    if (write(2, text, static_cast<std::size_t>(n)) != n) return 1;
  }
  if (how == "kill") raise(SIGKILL);
  _exit(3);
}

// capture-early: a line on stdout and one on stderr before any log call or init() (BBX_CAPTURE=1
// must have the capture running from the process's start), then a record.
int capture_early() {
  std::printf("before any log call\n");
  std::fflush(stdout);
  if (write(2, "early stderr\n", 13) != 13) return 1;
  BBX_INFO("first record");
  blackbox::shutdown();
  return 0;
}

// capture-order: records and printf lines in turn (BBX_CAPTURE=1 and the console on, stdout
// and stderr into one pipe): the terminal must show them in the order they happened.
int capture_order() {
  for (int i = 0; i < 20; ++i) {
    BBX_INFO("record {}", i);
    std::printf("line %d\n", i);
    std::fflush(stdout);
  }
  blackbox::shutdown();
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string mode = argv[1];
  if (mode == "log-ack") return log_ack();
  if (mode == "wait-crash") return wait_crash();
  if (mode == "ctl-child") return ctl_child();
  if (mode == "metrics-child") return metrics_child();
  if (mode == "echo-log") return echo_log();
  if (mode == "crash" && argc == 4) return crash(argv[2], std::atoi(argv[3]));
  if (mode == "start" && argc == 3) return start_and_recover(argv[2]);
  if (mode == "archive-exit-full") return archive_exit_full();
  if (mode == "hostile-metrics") return hostile_metrics();
  if (mode == "capture-exit" && argc == 3) return capture_exit(argv[2]);
  if (mode == "read" && argc == 5) {
    return read_ring(argv[2], std::stoull(argv[3]), std::stoull(argv[4]));
  }
  if (mode == "report") return log_and_report();
  if (mode == "create-visible") return create_visible();
  if (mode == "archive-exit" && argc == 3) return archive_exit(argv[2]);
  if (mode == "archive-seed" && argc == 3) return archive_seed(argv[2]);
  if (mode == "export-sample") return export_sample();
  if (mode == "capture-crash") return capture_crash();
  if (mode == "console-crash") return console_crash();
  if (mode == "capture-early") return capture_early();
  if (mode == "capture-order") return capture_order();
  if (mode == "console-span") return console_span();
  if (mode == "capture-console") return capture_console();
  if (mode == "capture-grandchild") return capture_grandchild();
  if (mode == "console" && argc == 4)
    return console_records(std::atoi(argv[2]), std::atoi(argv[3]));
  if (mode == "seed" && argc == 4) return write_seed(argv[2], argv[3]);
  if (mode == "eacces") {  // a ring directory we may not write to (tests run as root)
    blackbox::sys::calls().open = [](const char*, int, mode_t) {
      errno = EACCES;
      return -1;
    };
    blackbox::sys::calls().openat = [](int, const char*, int, mode_t) {
      errno = EACCES;
      return -1;
    };
    return log_and_report();
  }
  if (mode == "nomem") {  // not even an anonymous ring can be mapped
    blackbox::sys::calls().mmap = [](void*, std::size_t, int, int, int, off_t) {
      errno = ENOMEM;
      return MAP_FAILED;
    };
    for (int i = 0; i < 1000; ++i) BBX_INFO("dropped {}", i);
    std::printf("dropped=%llu\n",
                static_cast<unsigned long long>(blackbox::stats().dropped_no_slot));
    return 0;
  }
  if (mode == "enospc") {
    blackbox::sys::calls().posix_fallocate = [](int, off_t, off_t) { return ENOSPC; };
    return log_and_report();
  }
  return usage();
}
