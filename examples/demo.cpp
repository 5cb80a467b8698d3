// The demo: several threads log through blackbox, then the program reads its own ring back
// and prints what the reader decodes, as logcat prints it (the same records `logcat -p PID`
// shows while it runs, and `logcat -u demo` from the archive afterwards).
#define BBX_TAG "demo"
#include <fmt/format.h>
#include <unistd.h>

#include <blackbox/blackbox.hpp>
#include <blackbox/reader.hpp>
#include <blackbox/text.hpp>
#include <cstdio>
#include <cstdlib>
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

}  // namespace

int main() {
  std::vector<std::string> warnings;
  blackbox::Config config = blackbox::Config::from_env(&warnings);
  for (const auto& w : warnings) std::fprintf(stderr, "demo: %s\n", w.c_str());
  config.app = "demo";
  config.levels = "info,net=debug";
  // The demo prints the records itself, below, from its own ring; the console (records shown
  // on a terminal as they are logged, the default there) would show each twice.
  config.console = "off";
  if (auto result = blackbox::init(config); !result.ok()) {
    std::fprintf(stderr, "%s\n", result.error.c_str());
  }
  BBX_INFO("demo starting with {threads} threads", 3);
  BBX_DEBUG("this debug record is filtered out by the level spec: {}", 1);

  std::vector<std::thread> threads;
  for (int id = 0; id < 3; ++id) threads.emplace_back(worker, id);
  for (auto& t : threads) t.join();
  {
    BBX_SPAN("report for {} workers", 3);
    BBX_INFO("all {} workers done", 3);
  }

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
  // The records as logcat prints them (its renderer is the library's: blackbox/text.hpp),
  // and the first request again as a JSON line, with its typed fields.
  const bool colour = isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr;
  blackbox::text::Renderer text(blackbox::text::Format::text, colour, false);
  blackbox::text::Renderer json(blackbox::text::Format::json, false, false);
  blackbox::text::SpanWording spans;
  blackbox::text::Buffer lines, json_line;
  for (const blackbox::Record& r : reader->read_sorted()) {
    text.render(spans.reword(r), lines);  // a span's end as logcat says it
    if (json_line.size() == 0 && r.message_template.starts_with("request {id}")) {
      json.render(r, json_line);
    }
  }
  std::fwrite(lines.data(), 1, lines.size(), stdout);
  std::printf("\nthe same record as JSON (logcat -o json):\n");
  std::fwrite(json_line.data(), 1, json_line.size(), stdout);
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
    std::printf("next: logcat -u demo        (this run and every earlier one, from the archive)\n");
  } else {
    std::printf("archive: not written (disabled, or the directory is not writable: see %s)\n",
                "blackbox::stats()");
  }
  blackbox::shutdown();
  return 0;
}
