// Makes a golden set: one file of every kind today's format writes, from processes that
// really ran (and really died), for tests/golden/v<N>/. Run once, when a format version is
// new; never to refresh an old set (those files are the promise that any logcat reads any
// older file):
//
//   build/test/tests/golden/blackbox_make_golden tests/golden/v3
//   BBX_GOLDEN_UPDATE=1 build/test/tests/golden_test   # writes the new set's expectations
//
// Files: ring.bbr (a process killed with SIGKILL: its ring as it left it), crashed.bbr (a
// process that died of SIGSEGV: crash report in the header page), dump.bbd
// (blackbox::dump() of a live process), archive.bbx (a process that logged and exited: its
// archive file) and recovered.bbx (the crashed ring recovered into the archive, with its
// crash frame). The records cover every argument type, every level,
// specs, names, cut strings, control characters, trace contexts, spans and two threads; and
// application metrics of every kind.
#include <fmt/format.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "blackbox/blackbox.hpp"
#include "blackbox/metrics.hpp"
#include "blackbox/recovery.hpp"
#include "blackbox/span.hpp"

namespace fs = std::filesystem;

namespace {

enum class Color { red, green };
struct Point {
  int x, y;
};

}  // namespace

template <>
struct fmt::formatter<Point> : fmt::formatter<std::string_view> {
  auto format(const Point& p, fmt::format_context& ctx) const {
    return fmt::format_to(ctx.out(), "({}, {})", p.x, p.y);
  }
};

namespace {

blackbox::Config small_config(const std::string& dir, const std::string& archive_dir) {
  blackbox::Config c;
  c.dir = dir;
  c.app = "golden";
  c.levels = "trace";
  c.ring_bytes = 64u << 10;
  c.block_bytes = 4u << 10;
  c.max_threads = 2;
  c.site_table_bytes = 64u << 10;
  c.max_string_bytes = 64;
  c.metric_cells = 2048;  // room for the histogram below (format version 3)
  c.archive_dir = archive_dir;
  c.crash_handlers = false;
  return c;
}

// The same records in every file: one of each thing the format has to carry.
void log_everything() {
  BBX_TRACE("trace level {n}", 1);
  BBX_DEBUG("debug level {n}", 2);
  BBX_INFO("integers {i8} {u8} {i16} {u16} {i32} {u32} {i64} {u64}", std::int8_t{-8},
           std::uint8_t{8}, std::int16_t{-16}, std::uint16_t{16}, -32, 32u, std::int64_t{-64},
           std::uint64_t{18446744073709551615u});
  BBX_INFO("floats {f} {d} {fixed:.2f} {exp:e} {nan}", 1.5f, 2.25, 3.14159, 6.02e23,
           std::numeric_limits<double>::quiet_NaN());
  BBX_INFO("bool {b} char {c} pointer {p} enum {e} formatted {pt}", true, 'x',
           reinterpret_cast<const void*>(std::uintptr_t{0x1234}), Color::green, Point{3, 4});
  const std::string owned = "a std::string";
  const std::string_view view = "a string_view";
  BBX_WARN("strings {cstr} {owned} {view} {empty}", "a C string", owned, view, "");
  BBX_WARN("specs {hex:#x} {padded:>8} {left:<6}| {}", 255, "right", "left", "anonymous");
  BBX_ERROR("cut {long}", std::string(100, 'y'));
  BBX_ERROR("control characters {text} and UTF-8 {utf8}", "line\nbreak\x1b[31m",
            "na\xc3\xafve \xe2\x9c\x93");
  BBX_LOG("db", blackbox::Level::fatal, "tagged {table} {{literal braces}}", "orders");
  {
    const auto ctx =
        blackbox::TraceContext::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    blackbox::TraceScope scope(*ctx);
    BBX_INFO("in a remote trace {step}", 1);
    {
      BBX_SPAN("charge {order}", 42);
      BBX_INFO("inside a span {amount:.2f}", 9.99);
      blackbox::Span child("child", blackbox::field<"items">(3));
      BBX_INFO("inside a child span");
    }
  }
  // Application metrics (version 3): one of each kind, tags, units, help, two threads.
  static const blackbox::Counter requests{
      "http.server.requests", {{"route", "/login"}, {"status", "200"}}, "served"};
  static const blackbox::Gauge depth{"queue.depth", {}, blackbox::MetricUnit::bytes};
  static const blackbox::Histogram latency{"http.server.latency",
                                           {{"route", "/login"}},
                                           blackbox::MetricUnit::nanoseconds,
                                           "time to answer"};
  static const blackbox::TextMetric version{"build.version"};
  for (std::uint64_t i = 1; i <= 100; ++i) latency.record(i * i * 1000);
  requests.add(40);
  depth.set(-12);
  version.set("1.2.3 \"golden\"");
  std::thread worker([] {
    pthread_setname_np(pthread_self(), "worker");
    for (int i = 0; i < 3; ++i) BBX_INFO("worker record {i} of {n}", i, 3);
    requests.add(2);
    latency.record(7);
  });
  worker.join();
}

// Runs `body` in a child process and waits for it; returns its wait status.
template <typename Body>
int in_child(Body body) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    body();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

// The one file in `dir` with `extension`.
fs::path only_file(const fs::path& dir, const std::string& extension) {
  fs::path found;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == extension) {
      if (!found.empty()) {
        std::fprintf(stderr, "more than one %s file in %s\n", extension.c_str(), dir.c_str());
        std::exit(1);
      }
      found = e.path();
    }
  }
  if (found.empty()) {
    std::fprintf(stderr, "no %s file in %s\n", extension.c_str(), dir.c_str());
    std::exit(1);
  }
  return found;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: blackbox_make_golden OUT_DIR\n");
    return 2;
  }
  const fs::path out = argv[1];
  fs::create_directories(out);
  char tmpl[] = "/tmp/bbx-golden-XXXXXX";
  const fs::path tmp = mkdtemp(tmpl);

  // A process killed while it runs: its ring file, marked live.
  const fs::path killed = tmp / "killed";
  in_child([&] {
    (void)blackbox::init(small_config(killed, ""));
    log_everything();
    raise(SIGKILL);
  });
  fs::copy_file(only_file(killed, ".bbr"), out / "ring.bbr");

  // A process that crashes: crash report and crashed state in its ring file.
  const fs::path crashed = tmp / "crashed";
  in_child([&] {
    blackbox::Config c = small_config(crashed, "");
    c.crash_handlers = true;
    (void)blackbox::init(c);
    log_everything();
    *static_cast<volatile int*>(nullptr) = 1;
  });
  fs::copy_file(only_file(crashed, ".bbr"), out / "crashed.bbr");

  // A dump of a live process.
  in_child([&] {
    (void)blackbox::init(small_config(tmp / "dumped", ""));
    log_everything();
    if (const std::string e = blackbox::dump(out / "dump.bbd"); !e.empty()) {
      std::fprintf(stderr, "%s\n", e.c_str());
      _exit(1);
    }
  });

  // An archive file written by a process that exited normally.
  const fs::path archived = tmp / "archive";
  in_child([&] {
    (void)blackbox::init(small_config(tmp / "archiving", archived));
    log_everything();
    blackbox::shutdown();
  });
  fs::copy_file(only_file(archived, ".bbx"), out / "archive.bbx");

  // The crashed ring recovered into an archive (with its crash frame).
  blackbox::Config recover = small_config(crashed, tmp / "recovered");
  for (const auto& r : blackbox::recover_dead_rings(crashed, recover)) {
    std::fprintf(stderr, "%s\n", r.describe().c_str());
  }
  fs::copy_file(only_file(tmp / "recovered", ".bbx"), out / "recovered.bbx");

  fs::remove_all(tmp);
  std::printf("golden set written to %s\n", out.c_str());
  return 0;
}
