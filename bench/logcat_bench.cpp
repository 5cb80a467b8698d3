// logcat over a large multi-file archive, side by side with `zstd -dc | grep` over spdlog's
// text log of the same records (compressed with zstd -1), in one run:
//   scan    a filter that passes (almost) nothing: records scanned per second. Four kinds:
//           a TAG:L filterspec passing ~1% (every chunk decompressed, each record checked
//           before decoding), a tag and a level the chunk indexes rule out (nothing
//           decompressed), and a regex (every message formatted);
//   text    every record as human text to /dev/null: lines per second;
//   trace   --trace ID of one request (as the span tree, as OTLP, as Chrome trace events):
//           wall time, and the fraction of chunks decompressed.
// Each iteration runs the command line (logcat, or sh -c for the peers) and times it.
//
//   build/release/bench/logcat_bench [--records=N] [--benchmark_repetitions=3]
//
// The data (an archive directory, the spdlog text compressed) is made once in
// $BBX_BENCH_DIR/logcat (default /tmp/blackbox-bench/logcat) for N records (default 120 M,
// about 1 GiB of archive) and reused while N is unchanged. The records: service requests,
// each under its own trace id, of four to six records (request, auth, query, sometimes a
// slow-query warning or an error, done), from four call sites' tags and levels.
#include <benchmark/benchmark.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "blackbox/reader.hpp"
#include "peers.hpp"
#include "workload.hpp"

namespace {

namespace fs = std::filesystem;

std::uint64_t g_records = 120'000'000;
std::string g_dir, g_archive, g_text;

constexpr const char* kMethods[] = {"GET", "POST", "PUT", "DELETE"};
constexpr const char* kTables[] = {"orders", "users", "items", "carts", "payments", "sessions"};
constexpr const char* kErrors[] = {"upstream timeout", "connection refused", "bad request body"};

std::array<std::uint8_t, 16> trace_of(std::uint64_t request) {
  std::array<std::uint8_t, 16> id{};
  const std::uint64_t a = bench::mix(request), b = bench::mix(request ^ 0x5bd1e995u);
  std::memcpy(id.data(), &a, 8);
  std::memcpy(id.data() + 8, &b, 8);
  return id;
}

std::string hex(const std::array<std::uint8_t, 16>& id) {
  std::string s;
  for (const auto b : id) s += fmt::format("{:02x}", b);
  return s;
}

// One request's records, through blackbox (under the request's trace) or as spdlog text
// (the trace id at the end of each line, as a text logger would print it).
struct Request {
  std::uint64_t r;
  std::uint64_t h = bench::mix(r);
  const char* method = kMethods[h % 4];
  int path = static_cast<int>((h >> 4) % 20);
  const char* user = bench::users()[(h >> 32) % bench::users().size()].c_str();
  const char* table = kTables[(h >> 8) % 6];
  double query_ms = static_cast<double>(h % 50'000) / 1000.0;
  int rows = static_cast<int>((h >> 16) % 500);
  bool slow = (h >> 40) % 100 < 5;
  bool failed = (h >> 48) % 100 < 1;
  int status = failed ? 500 : (h >> 52) % 100 < 3 ? 404 : 200;
  double total_ms = query_ms + static_cast<double>((h >> 24) % 10'000) / 1000.0;
  std::uint64_t bytes = (h >> 20) % 100'000;

  int log_blackbox() const {
    const auto id = trace_of(r);
    blackbox::TraceScope scope(blackbox::TraceContext{id, {1, 2, 3, 4, 5, 6, 7, 8}});
    BBX_LOG("http", blackbox::Level::info, "request {id} {method} /api/v1/{path}", r, method, path);
    BBX_LOG("auth", blackbox::Level::debug, "user {user} authenticated", user);
    BBX_LOG("db", blackbox::Level::info, "query {table} rows {rows} took {ms:.3f} ms", table, rows,
            query_ms);
    int n = 3;
    if (slow) {
      BBX_LOG("db", blackbox::Level::warn, "slow query {table} took {ms:.1f} ms", table, query_ms);
      ++n;
    }
    if (failed) {
      BBX_LOG("http", blackbox::Level::error, "request {id} failed: {error}", r, kErrors[h % 3]);
      ++n;
    }
    BBX_LOG("http", blackbox::Level::info,
            "request {id} done status {status} in {ms:.3f} ms "
            "bytes {bytes}",
            r, status, total_ms, bytes);
    return n + 1;
  }

  void log_spdlog(spdlog::logger& log) const {
    const std::string t = " trace=" + hex(trace_of(r));
    log.info("http request {} {} /api/v1/{}{}", r, method, path, t);
    log.debug("auth user {} authenticated{}", user, t);
    log.info("db query {} rows {} took {:.3f} ms{}", table, rows, query_ms, t);
    if (slow) log.warn("db slow query {} took {:.1f} ms{}", table, query_ms, t);
    if (failed) log.error("http request {} failed: {}{}", r, kErrors[h % 3], t);
    log.info("http request {} done status {} in {:.3f} ms bytes {}{}", r, status, total_ms, bytes,
             t);
  }
};

// The request whose trace --trace looks for: one in the middle.
std::uint64_t g_requests = 0;
std::uint64_t wanted_request() { return g_requests / 2; }

void make_data() {
  const std::string stamp = g_dir + "/records";
  std::uint64_t have = 0, requests = 0;
  if (std::ifstream in(stamp); in >> have >> requests && have >= g_records) {
    g_records = have;
    g_requests = requests;
    return;
  }
  fs::remove_all(g_dir);
  fs::create_directories(g_archive);
  std::fprintf(stderr, "making %llu records in %s (once) ...\n",
               static_cast<unsigned long long>(g_records), g_dir.c_str());
  blackbox::Config c = blackbox::Config::from_env();
  c.app = "logcat_bench";
  c.levels = "trace";
  c.archive_dir = g_archive;
  c.ring_bytes = 8u << 20;
  c.retain_bytes = 0;
  c.retain_seconds = 0;
  if (!blackbox::init(c).ok()) std::exit(1);
  std::uint64_t n = 0;
  while (n < g_records) {
    n += static_cast<std::uint64_t>(Request{g_requests++}.log_blackbox());
    if (g_requests % 4096 == 0 && !blackbox::flush()) std::exit(1);  // never lap the flusher
  }
  blackbox::flush();
  const blackbox::Stats stats = blackbox::stats();
  blackbox::shutdown();
  if (stats.lost_overwritten + stats.lost_disk_error != 0) {
    std::fprintf(stderr, "lost records while making the data\n");
    std::exit(1);
  }
  {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(g_dir + "/spdlog.log", true);
    spdlog::logger log("bench", sink);
    log.set_level(spdlog::level::trace);
    log.set_pattern("[%Y-%m-%d %H:%M:%S.%f] [%l] [%t] %v");
    for (std::uint64_t r = 0; r < g_requests; ++r) Request{r}.log_spdlog(log);
    log.flush();
  }
  if (std::system(("zstd -1 -q --rm -f " + g_dir + "/spdlog.log -o " + g_text).c_str()) != 0) {
    std::fprintf(stderr, "zstd failed (apt-get install -y zstd)\n");
    std::exit(1);
  }
  std::ofstream(stamp) << n << ' ' << g_requests << '\n';
  g_records = n;
}

std::uint64_t dir_bytes(const std::string& dir) {
  std::uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(dir)) total += e.file_size();
  return total;
}

// Runs `command` through sh with stdout to /dev/null; its wall time.
double run(const std::string& command) {
  const auto start = std::chrono::steady_clock::now();
  const int status = std::system((command + " > /dev/null").c_str());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // logcat exits 0; grep exits 1 when nothing matched, which is what these filters do.
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) > 1) return -1;
  return seconds;
}

void timed(benchmark::State& state, const std::string& command) {
  for (auto _ : state) {
    const double s = run(command);
    if (s < 0) {
      state.SkipWithError(("failed: " + command).c_str());
      return;
    }
    state.SetIterationTime(s);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * g_records));
  state.SetLabel(command.substr(0, 90));
}

std::string logcat() { return BBX_LOGCAT_PATH; }

// Slow-query warnings (~1% of records): every chunk holds some, so every chunk is
// decompressed and every record checked; the few that pass are printed.
void scan_logcat_tag(benchmark::State& state) {
  timed(state, logcat() + " " + g_archive + " 'db:W' '*:S'");
}
// A tag no record has: every chunk's filter frame rules it out (nothing is decompressed).
void scan_logcat_tag_absent(benchmark::State& state) {
  timed(state, logcat() + " " + g_archive + " 'nosuchtag:V' '*:S'");
}
void scan_logcat_level_index(benchmark::State& state) {
  timed(state, logcat() + " " + g_archive + " -l fatal");
}
void scan_logcat_regex(benchmark::State& state) {
  timed(state, logcat() + " " + g_archive + " -o raw -e 'no such text'");
}
void scan_zstd_grep(benchmark::State& state) {
  timed(state, "zstd -dc " + g_text + " | grep -F 'no such text'");
}
void text_logcat(benchmark::State& state) {
  timed(state, logcat() + " " + g_archive + " --color=never");
}
void text_zstd_cat(benchmark::State& state) { timed(state, "zstd -dc " + g_text); }

void trace_logcat(benchmark::State& state) {
  const std::string id = hex(trace_of(wanted_request()));
  timed(state, logcat() + " " + g_archive + " --trace " + id);
  // The fraction of chunks decompressed for this lookup, through the same reader API.
  auto reader = blackbox::ArchiveReader::open(g_archive);
  reader->set_trace_filter(trace_of(wanted_request()));
  std::uint64_t found = 0;
  reader->poll([&](const blackbox::Record&) { ++found; });
  const auto c = reader->counters();
  state.counters["chunks"] = static_cast<double>(c.chunks_read + c.chunks_skipped);
  state.counters["decompressed_pct"] =
      100.0 * static_cast<double>(c.chunks_read) /
      static_cast<double>(std::max<std::uint64_t>(c.chunks_read + c.chunks_skipped, 1));
  state.counters["found"] = static_cast<double>(found);
}
// The same trace exported: OTLP/JSON and Chrome trace events.
void trace_logcat_otlp(benchmark::State& state) {
  timed(state,
        logcat() + " " + g_archive + " --trace " + hex(trace_of(wanted_request())) + " -o otlp");
}
void trace_logcat_chrome(benchmark::State& state) {
  timed(state,
        logcat() + " " + g_archive + " --trace " + hex(trace_of(wanted_request())) + " -o chrome");
}

// Issue 16: what the archive holds, from its indexes. runs and -F app read chunk indexes
// only; --fields the call site definitions; -F tag record headers without arguments;
// -F error the chunks whose call sites have an {error} field (every chunk has some).
void runs_logcat(benchmark::State& state) { timed(state, logcat() + " runs " + g_archive); }
void distinct_logcat_app(benchmark::State& state) {
  timed(state, logcat() + " " + g_archive + " -F app");
}
void distinct_logcat_tag(benchmark::State& state) {
  timed(state, logcat() + " " + g_archive + " -F tag");
}
void distinct_logcat_field(benchmark::State& state) {
  timed(state, logcat() + " " + g_archive + " -F error");
}
void fields_logcat(benchmark::State& state) {
  timed(state, logcat() + " " + g_archive + " --fields");
}
// The peer: the tags (spdlog's fifth word here) counted from the text.
void distinct_zstd_awk(benchmark::State& state) {
  timed(state, "zstd -dc " + g_text + " | awk '{n[$5]++} END {for (t in n) print n[t], t}'");
}

void trace_zstd_grep(benchmark::State& state) {
  timed(state, "zstd -dc " + g_text + " | grep -F " + hex(trace_of(wanted_request())));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--records=", 10) == 0) {
      g_records = std::stoull(argv[i] + 10);
    } else {
      args.push_back(argv[i]);
    }
  }
  g_dir = bench::Peers::dir() + "/logcat";
  g_archive = g_dir + "/archive";
  g_text = g_dir + "/spdlog.log.zst";
  make_data();
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  benchmark::AddCustomContext("records", std::to_string(g_records));
  benchmark::AddCustomContext("archive_bytes", std::to_string(dir_bytes(g_archive)));
  benchmark::AddCustomContext("spdlog_zstd1_bytes", std::to_string(fs::file_size(g_text)));
  for (auto* b : {
           benchmark::RegisterBenchmark("scan/logcat_tag_filter", scan_logcat_tag),
           benchmark::RegisterBenchmark("scan/logcat_tag_absent_by_index", scan_logcat_tag_absent),
           benchmark::RegisterBenchmark("scan/logcat_level_by_index", scan_logcat_level_index),
           benchmark::RegisterBenchmark("scan/logcat_regex", scan_logcat_regex),
           benchmark::RegisterBenchmark("scan/zstd_dc_grep", scan_zstd_grep),
           benchmark::RegisterBenchmark("text/logcat", text_logcat),
           benchmark::RegisterBenchmark("text/zstd_dc", text_zstd_cat),
           benchmark::RegisterBenchmark("trace/logcat", trace_logcat),
           benchmark::RegisterBenchmark("trace/logcat_otlp", trace_logcat_otlp),
           benchmark::RegisterBenchmark("trace/logcat_chrome", trace_logcat_chrome),
           benchmark::RegisterBenchmark("trace/zstd_dc_grep", trace_zstd_grep),
           benchmark::RegisterBenchmark("index/logcat_runs", runs_logcat),
           benchmark::RegisterBenchmark("index/logcat_distinct_app", distinct_logcat_app),
           benchmark::RegisterBenchmark("index/logcat_fields", fields_logcat),
           benchmark::RegisterBenchmark("distinct/logcat_tag", distinct_logcat_tag),
           benchmark::RegisterBenchmark("distinct/logcat_field_error", distinct_logcat_field),
           benchmark::RegisterBenchmark("distinct/zstd_dc_awk_tags", distinct_zstd_awk),
       }) {
    b->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(1);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
