// The demo: several threads log through blackbox, then the program reads its own ring back
// and prints what the reader decodes (the same records `logcat -p PID` will show).
#define BBX_TAG "demo"
#include <fmt/format.h>

#include <blackbox/blackbox.hpp>
#include <blackbox/reader.hpp>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Point {
  int x, y;
};

}  // namespace

// Types with only an fmt::formatter are formatted at the call site.
template <>
struct fmt::formatter<Point> : fmt::formatter<std::string_view> {
  auto format(const Point& p, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "({}, {})", p.x, p.y);
  }
};

namespace {

enum class Route : std::uint8_t { api = 1, static_files = 2 };

void worker(int id) {
  blackbox::TraceContext trace;
  trace.trace_id[15] = static_cast<std::uint8_t>(id + 1);
  trace.span_id[7] = 0x42;
  trace.flags = 1;
  blackbox::TraceScope scope(trace);  // every record below carries this trace id
  for (int i = 0; i < 3; ++i) {
    const std::string user = "user" + std::to_string(id * 10 + i);
    BBX_INFO("request {id} took {ms:.2f} ms status {status} user {user}", id * 100 + i,
             0.25 * (i + 1), 200, user);
    BBX_LOG("net", blackbox::Level::debug, "sent {bytes} bytes on route {route}", 512 * (i + 1),
            Route::api);
  }
  BBX_WARN("worker {} done at {}", id, Point{id, -id});
}

std::string clock_text(std::int64_t ns) {
  const std::time_t secs = ns / 1'000'000'000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return fmt::format("{}.{:06d}", buf, (ns / 1000) % 1'000'000);
}

}  // namespace

int main() {
  std::vector<std::string> warnings;
  blackbox::Config config = blackbox::Config::from_env(&warnings);
  for (const auto& w : warnings) std::fprintf(stderr, "demo: %s\n", w.c_str());
  config.app = "demo";
  config.levels = "info,net=debug";
  if (auto result = blackbox::init(config); !result.ok()) {
    std::fprintf(stderr, "%s\n", result.error.c_str());
  }
  BBX_INFO("demo starting with {threads} threads", 3);
  BBX_DEBUG("this debug record is filtered out by the level spec: {}", 1);

  std::vector<std::thread> threads;
  for (int id = 0; id < 3; ++id) threads.emplace_back(worker, id);
  for (auto& t : threads) t.join();

  std::string error;
  auto reader = blackbox::RingReader::open_self(&error);
  if (!reader) {
    std::fprintf(stderr, "demo: %s\n", error.c_str());
    return 1;
  }
  const blackbox::RingInfo info = reader->info();
  std::printf("ring file: %s (app %s, pid %d, %u slots of %llu KiB)\n\n",
              info.path.empty() ? "(anonymous)" : info.path.c_str(), info.app.c_str(), info.pid,
              info.slot_count, static_cast<unsigned long long>(info.ring_bytes >> 10));
  for (const blackbox::Record& r : reader->read_sorted()) {
    std::string fields;
    for (const auto& f : r.fields) {
      if (f.name.empty()) continue;
      std::visit(
          [&](const auto& v) {
            using V = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<V, blackbox::Pointer>) {
              fields += fmt::format(" {}={:#x}", f.name, v.address);
            } else {
              fields += fmt::format(" {}={}", f.name, v);
            }
          },
          f.value);
    }
    std::printf("%s %c %-5s %-6d %s%s%s\n", clock_text(r.time_ns).c_str(),
                std::toupper(blackbox::level_name(r.level)[0]), std::string(r.tag).c_str(), r.tid,
                r.message.c_str(), fields.empty() ? "" : "  |", fields.c_str());
    if (r.has_trace) {
      std::printf("%24s trace %s\n", "", fmt::format("{:02x}", fmt::join(r.trace_id, "")).c_str());
    }
  }
  std::printf("\nlost records: %llu\n", static_cast<unsigned long long>(reader->lost_records()));

  // The same records, from the archive the flusher writes in the background.
  if (blackbox::flush()) {
    const std::string archive = blackbox::archive_path();
    auto archived = blackbox::ArchiveReader::open(archive, &error);
    if (!archived) {
      std::fprintf(stderr, "demo: %s\n", error.c_str());
      return 1;
    }
    const std::size_t n = archived->poll([](const blackbox::Record&) {});
    const blackbox::Stats stats = blackbox::stats();
    std::printf("archive: %s: %zu records, %llu bytes written\n", archive.c_str(), n,
                static_cast<unsigned long long>(stats.archive_bytes_written));
  } else {
    std::printf("archive: not written (disabled, or the directory is not writable: see %s)\n",
                "blackbox::stats()");
  }
  blackbox::shutdown();
  return 0;
}
