// logcat: read blackbox archives, archive directories and ring files; merge their records in
// time order (each record once); filter; print as text, JSON lines, logfmt or raw messages;
// follow growing archives and live rings; summarise (stats) and check (verify).
// Built on the public reader API only (blackbox/reader.hpp).
//
// Exit status: 0 clean, 1 some input was damaged (everything readable was printed), 2 usage.
#include <errno.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "../common/truncation_guard.hpp"
#include "blackbox/config.hpp"
#include "blackbox/version.hpp"
#include "commands.hpp"
#include "control.hpp"
#include "cursor.hpp"
#include "export.hpp"
#include "metrics.hpp"
#include "render.hpp"
#include "runs.hpp"
#include "select.hpp"
#include "ship.hpp"
#include "sources.hpp"
#include "spans.hpp"
#include "symbolize.hpp"
#include "trace_view.hpp"
#include "usage.hpp"

namespace {

using logcat::Record;

constexpr const char* kDescription =
    "logcat: read, filter and follow blackbox archives and ring files.\n"
    "\n"
    "Inputs are archive files (*.bbx), archive directories and ring files (*.bbr, live or\n"
    "dead); with none, the configured archive directory ($BBX_ARCHIVE_DIR, else\n"
    "$XDG_STATE_HOME/blackbox or ~/.local/state/blackbox), and for --trace and --span every\n"
    "ring file in $BBX_DIR too. Records of every input are merged in time order; a record\n"
    "both archived and still in its ring file is shown once.\n"
    "\n"
    "An argument that names an existing path is an input; one of the form TAG:L is an\n"
    "Android-style filterspec: L is V D I W E F or S (silent), '*' is every other tag.\n"
    "\n"
    "Examples:\n"
    "  logcat --since 1h -l error             errors of the last hour\n"
    "  logcat -p 4711 -n 50                   the last 50 records of process 4711\n"
    "  logcat -f -p 4711                      follow process 4711 live\n"
    "  logcat --trace 0af7651916cd43dd8448eb211c80319c   one trace, as a tree of spans\n"
    "  logcat --trace ID -o chrome > t.json   open in Perfetto UI or chrome://tracing\n"
    "  logcat --since 10m -o otlp             OTLP/JSON lines for the OpenTelemetry Collector\n"
    "  logcat db:W net:I '*:S' -e 'timeout|refused'\n"
    "  logcat -o json --field user=alice | jq .message\n"
    "  logcat stats --since 1d                who logs what, losses, rate over time\n"
    "  logcat verify /var/log/app             check every frame of every file\n"
    "  logcat recover                         archive the rings of crashed processes\n"
    "\n"
    "If you know journalctl or adb logcat:\n"
    "  journalctl -f / tail -f              logcat -f (the last 10 lines, then new ones)\n"
    "  journalctl -n 50 / adb logcat -t 50  logcat -n 50 (-t 50 works too)\n"
    "  journalctl -r                        logcat -r\n"
    "  journalctl -p err / adb logcat '*:E' logcat -l error (or -l E, or '*:E')\n"
    "  journalctl -u APP / adb --pid=PID    logcat -u APP (--app) / logcat -p PID\n"
    "  journalctl -b -1 / --list-boots      logcat -b -1 (--run) / logcat runs\n"
    "  journalctl -S '1h ago' -U today      logcat -S '1h ago' -U today (--since/--until)\n"
    "  journalctl -g RE / adb logcat -e RE  logcat -g RE / -e RE\n"
    "  journalctl -F FIELD / -N             logcat -F FIELD / -N (--fields)\n"
    "  journalctl -o json / -o short-iso    logcat -o json / --time-format iso\n"
    "  journalctl -o verbose                logcat -v long\n"
    "  journalctl --show-cursor, --after-cursor C, --cursor-file F, --no-pager: the same\n"
    "  adb logcat -v brief|time|threadtime|long    logcat -v the same\n"
    "  adb logcat -d (print and exit)       logcat (prints and exits; -f follows)\n"
    "  adb logcat TAG:I '*:S'               logcat TAG:I '*:S'\n"
    "\n"
    "Exit status: 0 clean; 1 an input was damaged (damaged ranges are named on stderr,\n"
    "everything readable was printed); 2 usage error. A closed pipe (| head) ends quietly.";

struct Args {
  std::vector<std::string> positional;  // inputs and filterspecs
  std::string level = "trace", regex, since, until, trace, span;
  std::vector<std::uint32_t> threads;
  std::vector<std::string> fields, apps;
  int pid = 0;
  std::optional<int> run;  // --run N
  // Every ring file of the ring directory is an input too (with no input named): for a
  // trace, a run, the list of runs.
  bool all_rings = false;
  // Printing only.
  std::string output = "text", colour = "auto", layout = "standard", time_format;
  std::string distinct;      // -F NAME
  bool field_names = false;  // --fields
  bool full_ids = false;
  bool utc = false, follow = false, no_symbols = false, reverse = false, no_pager = false;
  std::optional<std::size_t> last_n;  // -n: the last N (0: none, then follow); none: all
  std::string lines = "";             // -n as given: N, or all
  double interval_s = 0.2;
  bool show_cursor = false;
  std::string after_cursor, cursor_file;
  std::optional<logcat::Cursor> cursor;  // where to resume (--after-cursor, --cursor-file)
  // The configured archive directory when no input was named: it may hold nothing yet.
  std::string implicit_archive_dir;
  std::string implicit_ring_dir;  // the ring directory, when its rings are the inputs
  std::string pid_ring_missing;   // -p: the ring directory that has no ring file of it
  bool make_archive_dir = false;  // create the archive directory if it is not there (ship)
};

void add_selection_options(CLI::App& app, Args& a) {
  app.add_option("inputs", a.positional, "archive files or directories, ring files, TAG:L");
  app.add_option("-l,--level", a.level,
                 "lowest level shown: trace debug info warn error fatal, or adb's letters "
                 "V D I W E F");
  app.add_option("-e,--regex,-g", a.regex, "only records whose message matches (RE2 syntax)");
  app.add_option("-S,--since", a.since,
                 "only records at or after: ISO 8601 (2026-11-24T13:00:00, Z for UTC, else "
                 "local time), a date (2026-11-24: midnight), a time today (13:05), today, "
                 "yesterday, now, @UNIX seconds, journalctl's -1h, +30min and \"5 min ago\", "
                 "or an age (90s, 10m, 2h, 1d)");
  app.add_option("-U,--until", a.until, "only records before (same forms as --since)");
  app.add_option("--thread", a.threads, "only this thread id (repeatable)");
  app.add_option("--trace", a.trace,
                 "only this trace id (32 hex digits); archive chunks that cannot hold it are "
                 "not even decompressed; as text, a tree: records indented by span, each "
                 "span with its duration");
  app.add_option("--span", a.span,
                 "only this span (16 hex digits) and the spans below it; give --trace too, "
                 "or every input is searched for the span's trace");
  app.add_option("--field", a.fields,
                 "only records with this field: name=value, compared with the value as text "
                 "(repeatable; all must match)");
  app.add_option("-p,--pid", a.pid,
                 "only this process; adds its ring file (from $BBX_DIR) to the inputs");
  app.add_option("-u,--app", a.apps, "only this app's records (repeatable)");
  app.add_option("-b,--run", a.run,
                 "only one run (a process's life) of the app, as journalctl's -b: 0 the current "
                 "or last, -1 the one before, 1 the first; see logcat runs")
      ->allow_extra_args(false);
  app.add_flag("--utc", a.utc, "times in UTC (default: local time)");
  app.add_flag("--no-symbols", a.no_symbols,
               "crash stacks as module, build id and offset only (do not read the modules' files)");
}

// --trace with a prefix of a trace id: the one trace id of the inputs that starts with it
// (every record read once, without decoding its message). Returns 0 with the selection's
// trace set, 1 when no trace starts with it, 2 when several do (say more digits).
int resolve_trace_prefix(const Args& a, logcat::Selection& selection, logcat::Inputs& inputs) {
  std::string prefix = a.trace;
  for (char& c : prefix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::set<std::string> found;  // at most a few: enough to show the ambiguity
  auto hex = [](const std::array<std::uint8_t, 16>& id) {
    blackbox::text::Buffer out(32);
    blackbox::text::append_hex(id.data(), id.size(), out);
    return std::string(out.view());
  };
  inputs.read_unordered([&](const Record& r) {
    if (!r.has_trace) return true;
    if (std::string id = hex(r.trace_id); id.starts_with(prefix)) found.insert(std::move(id));
    return found.size() < 4;
  });
  if (found.empty()) {
    std::fprintf(stderr, "logcat: no trace id starts with %s in these inputs\n", prefix.c_str());
    return 1;
  }
  if (found.size() > 1) {
    std::string ids;
    for (const auto& id : found) ids += "\n  " + id;
    std::fprintf(stderr, "logcat: trace id prefix %s is ambiguous (give more digits):%s%s\n",
                 prefix.c_str(), ids.c_str(), found.size() > 3 ? "\n  ..." : "");
    return 2;
  }
  selection.read.trace_id = logcat::parse_trace(*found.begin());
  return 0;
}

// select()'s answer when there is nothing to read and that is no error: nothing logged yet.
constexpr int kNoLogsYet = -1;

// Builds the selection from the arguments. Returns 0, 2 after saying what is wrong, or
// kNoLogsYet after saying so.
// `logcat stats`: the telemetry of each ring file among the inputs (a live process's, a dead
// one's as it left it) whose process the selection keeps, then of each run in the archives
// (its latest telemetry frame: at its exit, or the last rotation).
void print_telemetry(logcat::Inputs& inputs, const std::vector<std::string>& paths,
                     const logcat::Selection& selection, bool utc) {
  std::map<std::pair<std::int32_t, std::int64_t>, const blackbox::ArchiveFileInfo*> runs;
  const auto files = inputs.archive_files();
  for (const auto& f : files) {
    if (!f.telemetry || !selection.pass_process(f.pid, f.process_start_ns, f.app)) continue;
    const auto*& latest = runs[{f.pid, f.process_start_ns}];
    if (latest == nullptr || f.telemetry_ns >= latest->telemetry_ns) latest = &f;
  }
  for (const auto& [key, f] : runs) {
    const std::string how = f->crash                                           ? "crashed"
                            : f->end == blackbox::ArchiveFileInfo::End::exited ? "exited"
                            : f->end == blackbox::ArchiveFileInfo::End::killed ? "killed"
                                                                               : "at a rotation";
    const std::string who = fmt::format("pid {} ({}), started {}, {}", f->pid, f->app,
                                        logcat::clock_text(f->process_start_ns, utc), how);
    blackbox::LevelsState levels;
    levels.spec = f->telemetry_levels;
    const std::string text = logcat::telemetry_text(
        who, *f->telemetry, levels,
        f->crash && f->crash->time_ns != 0 ? f->crash->time_ns : f->telemetry_ns, utc);
    std::printf("\n%s", text.c_str());
  }
  for (const std::string& path : paths) {
    if (!logcat::is_ring_file(path)) continue;
    auto reader = blackbox::RingReader::open(path);
    if (reader == nullptr) continue;
    const blackbox::RingInfo info = reader->info();
    if (!selection.pass_process(info.pid, info.start_time_ns, info.app)) continue;
    const auto telemetry = reader->telemetry();
    if (!telemetry) continue;
    const std::int64_t at = info.crash && info.crash->time_ns != 0 ? info.crash->time_ns
                            : info.state == blackbox::RingState::live && info.process_alive
                                ? logcat::now_ns()
                                : telemetry->updated_ns;
    const std::string text =
        logcat::telemetry_text(logcat::ring_who(info), *telemetry, reader->levels(), at, utc);
    std::printf("\n%s", text.c_str());
  }
  std::fflush(stdout);
}

int select(Args& a, logcat::Selection& sel, std::vector<std::string>& inputs) {
  const auto min_level = logcat::parse_level_or_letter(a.level);
  if (!min_level) {
    std::fprintf(stderr,
                 "logcat: unknown level \"%s\" (trace debug info warn error fatal, or V D I W "
                 "E F; see --help)\n",
                 a.level.c_str());
    return 2;
  }
  sel.read.min_level = *min_level;
  if (!a.regex.empty()) {
    sel.regex = std::make_unique<re2::RE2>(a.regex, re2::RE2::Quiet);
    if (!sel.regex->ok()) {
      std::fprintf(stderr, "logcat: bad regex \"%s\": %s (RE2 syntax; see --help)\n",
                   a.regex.c_str(), sel.regex->error().c_str());
      return 2;
    }
  }
  const std::int64_t now = logcat::now_ns();
  for (auto [text, out] :
       {std::pair{&a.since, &sel.read.since_ns}, std::pair{&a.until, &sel.read.until_ns}}) {
    if (text->empty()) continue;
    const auto t = logcat::parse_time(*text, now);
    if (!t) {
      std::fprintf(stderr,
                   "logcat: bad time \"%s\" (ISO 8601 like 2026-11-24T13:00:00, a date, a "
                   "time today like 13:05, today, yesterday, now, @UNIX seconds, -1h, "
                   "\"5 min ago\", or an age like 10m; see --help)\n",
                   text->c_str());
      return 2;
    }
    *out = *t;
  }
  if (!a.lines.empty() && a.lines != "all") {
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(a.lines.c_str(), &end, 10);
    if (a.lines[0] == '-' || *end != '\0' || errno != 0) {
      std::fprintf(stderr, "logcat: bad -n \"%s\" (a number of lines, or all; see --help)\n",
                   a.lines.c_str());
      return 2;
    }
    a.last_n = static_cast<std::size_t>(n);
  }
  if (a.follow && a.reverse) {
    std::fprintf(stderr, "logcat: -r and -f do not go together (see --help)\n");
    return 2;
  }
  if (!a.after_cursor.empty()) {
    a.cursor = logcat::Cursor::parse(a.after_cursor);
    if (!a.cursor) {
      std::fprintf(stderr, "logcat: bad cursor \"%s\" (as --show-cursor printed it; see --help)\n",
                   a.after_cursor.c_str());
      return 2;
    }
  } else if (!a.cursor_file.empty()) {
    if (const std::string error = logcat::read_cursor_file(a.cursor_file, a.cursor);
        !error.empty()) {
      std::fprintf(stderr, "logcat: %s\n", error.c_str());
      return 2;
    }
  }
  // Nothing before the cursor's floor is after it: the readers start there.
  if (a.cursor) sel.read.since_ns = std::max(sel.read.since_ns, a.cursor->floor_ns());
  // -f shows the last 10 lines first, as journalctl -f and tail -f (after a cursor: all
  // that follows it).
  if (a.follow && a.lines.empty() && !a.cursor) a.last_n = 10;
  if (!a.trace.empty()) {
    sel.read.trace_id = logcat::parse_trace(a.trace);
    // A shorter one is a prefix (as a terminal shows them: trace=25de278d), resolved among
    // the inputs once they are open, as git resolves a short commit id.
    const bool prefix = a.trace.size() >= 4 && a.trace.size() < 32 &&
                        std::all_of(a.trace.begin(), a.trace.end(),
                                    [](unsigned char c) { return std::isxdigit(c) != 0; });
    if (!sel.read.trace_id && !prefix) {
      std::fprintf(stderr,
                   "logcat: bad trace id \"%s\" (32 hex digits, or the first 4 or more of them; "
                   "see --help)\n",
                   a.trace.c_str());
      return 2;
    }
  }
  if (!a.span.empty()) {
    sel.span = logcat::parse_span(a.span);
    if (!sel.span) {
      std::fprintf(stderr, "logcat: bad span id \"%s\" (16 hex digits; see --help)\n",
                   a.span.c_str());
      return 2;
    }
  }
  for (const auto& f : a.fields) {
    const std::size_t eq = f.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "logcat: bad --field \"%s\" (name=value; see --help)\n", f.c_str());
      return 2;
    }
    sel.fields.emplace_back(f.substr(0, eq), f.substr(eq + 1));
  }
  sel.read.tids = a.threads;
  sel.read.apps = a.apps;
  if (a.run) a.all_rings = true;
  auto specs = std::make_shared<logcat::Filterspecs>();
  for (const auto& p : a.positional) {
    struct stat st {};
    if (stat(p.c_str(), &st) == 0) {
      inputs.push_back(p);
    } else if (!specs->parse(p)) {
      std::fprintf(stderr, "logcat: %s: no such file, and not a TAG:L filterspec (see --help)\n",
                   p.c_str());
      return 2;
    }
  }
  if (!specs->empty()) {
    sel.read.site = [specs](std::string_view tag, blackbox::Level level) {
      return specs->pass(tag, level);
    };
  }
  const bool explicit_inputs = !inputs.empty();
  const std::string ring_dir = blackbox::Config::from_env().dir;
  // The ring directory's files whose name ends with `suffix`.
  auto rings_in_dir = [&](const std::string& suffix) {
    std::vector<std::string> found;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(ring_dir, ec)) {
      const std::string name = e.path().filename();
      if (name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        found.push_back(e.path());
      }
    }
    std::sort(found.begin(), found.end());
    return found;
  };
  if (a.pid != 0) {
    sel.read.pid = a.pid;
    // Its ring file in the ring directory: <app>.<pid>.bbr.
    const std::vector<std::string> found = rings_in_dir("." + std::to_string(a.pid) + ".bbr");
    if (found.empty()) {
      // Said only if the archive has nothing of it either (print_records): a process that
      // exited normally archived everything and removed its ring file.
      a.pid_ring_missing = ring_dir;
    } else {
      inputs.push_back(found.back());
    }
  } else if (!explicit_inputs && (!a.trace.empty() || !a.span.empty() || a.all_rings)) {
    // One trace from the default inputs: its newest records may not be archived yet, so
    // every ring file too (live processes, and dead ones not yet recovered); each record is
    // still shown once.
    // (Other users' ring files, which this user may not read, are left out quietly.)
    for (const std::string& ring : rings_in_dir(".bbr")) {
      if (access(ring.c_str(), R_OK) == 0) inputs.push_back(ring);
    }
    a.implicit_ring_dir = ring_dir;
  }
  if (!explicit_inputs) {
    const std::string archive_dir = blackbox::Config::from_env().archive_dir;
    struct stat st {};
    if (a.make_archive_dir && !archive_dir.empty() && stat(archive_dir.c_str(), &st) != 0) {
      // A shipper may start before any service made it: made as the logger makes it (0750).
      std::error_code ec;
      std::filesystem::create_directories(archive_dir, ec);
      if (!ec) chmod(archive_dir.c_str(), 0750);
    }
    if (!archive_dir.empty() && stat(archive_dir.c_str(), &st) == 0) {
      inputs.push_back(archive_dir);
      a.implicit_archive_dir = archive_dir;
    } else if (inputs.empty()) {
      // Nothing logged yet is not a usage error (journalctl: "-- No entries --", exit 0); a
      // process asked for by -p that has no ring file and no archive is.
      if (archive_dir.empty() || a.pid != 0) {
        std::fprintf(
            stderr, "logcat: no inputs%s, and %s: name files or directories (see --help)\n",
            a.pid != 0
                ? (" (no ring file of pid " + std::to_string(a.pid) + " in " + ring_dir + ")")
                      .c_str()
                : "",
            archive_dir.empty() ? "archiving is off (BBX_ARCHIVE_DIR=off)"
                                : ("no archive directory " + archive_dir).c_str());
        return 2;
      }
      std::fprintf(stderr,
                   "logcat: no logs yet: %s does not exist (a program that logs with blackbox "
                   "makes it; logcat -p PID reads one that is running)\n",
                   archive_dir.c_str());
      return kNoLogsYet;
    }
  }
  return 0;
}

// The crashed processes among the inputs: ring files with a crash report, and archive
// files recovered from such rings.
// The ring files among the inputs that hold a crash report (read live: following, a ring
// gains one when its process crashes).
std::vector<logcat::Crashed> crashed_rings(const logcat::Inputs& inputs) {
  std::vector<logcat::Crashed> out;
  for (const auto& ring : inputs.rings()) {
    if (ring.crash) {
      out.push_back({ring.path, true, ring.app, ring.pid, *ring.crash, std::nullopt, std::nullopt});
    }
  }
  return out;
}

std::vector<logcat::Crashed> crashed_processes(logcat::Inputs& inputs) {
  std::vector<logcat::Crashed> out = crashed_rings(inputs);
  for (logcat::Crashed& c : out) {
    if (!c.ring) continue;
    c.telemetry = blackbox::read_telemetry(c.path);
    if (auto reader = blackbox::RingReader::open(c.path); reader != nullptr) {
      c.metrics = reader->metrics();
    }
  }
  inputs.scan();
  for (const auto& file : inputs.archive_files()) {
    if (!file.crash) continue;
    // A file recovered from a crashed ring: recovery wrote the telemetry and the metrics the
    // ring held (reason "recovered"), so the post-mortem is the same as from the ring.
    std::optional<blackbox::MetricsSnapshot> metrics;
    if (auto reader = blackbox::ArchiveReader::open(file.path); reader != nullptr) {
      reader->keep_metrics(true);
      while (reader->scan() != 0) {
      }
      for (auto& m : reader->take_metrics()) {
        if (m.pid == file.pid && m.reason == blackbox::ArchivedMetrics::Reason::recovered) {
          metrics = std::move(m.snapshot);
        }
      }
    }
    out.push_back(
        {file.path, false, file.app, file.pid, *file.crash, file.telemetry, std::move(metrics)});
  }
  return out;
}

// Each thread's last record in a crashed process's file, the crashing thread first.
std::vector<logcat::LastRecord> last_records(const logcat::Crashed& crashed) {
  std::map<std::uint32_t, logcat::LastRecord> by_tid;
  auto note = [&](const Record& r) {
    logcat::LastRecord& last = by_tid[r.tid];
    if (last.tid != 0 && r.time_ns < last.time_ns) return;
    last = {r.tid, r.thread_name, r.time_ns, r.has_trace, r.trace_id};
  };
  if (crashed.ring) {
    if (auto reader = blackbox::RingReader::open(crashed.path)) reader->poll(note);
  } else {
    // A recovered file holds only what the process had not archived yet: look at its
    // other files too (the same directory), over the ten minutes before the crash.
    const std::string dir = std::filesystem::path(crashed.path).parent_path();
    if (auto reader = blackbox::ArchiveReader::open(dir.empty() ? "." : dir)) {
      blackbox::ReadFilter filter;
      filter.pid = crashed.pid;
      filter.since_ns = crashed.crash.time_ns - 600'000'000'000;
      filter.fields = false;
      reader->set_filter(filter);
      for (const Record& r : reader->read_sorted()) note(r);
    }
  }
  std::vector<logcat::LastRecord> out;
  if (const auto it = by_tid.find(crashed.crash.tid); it != by_tid.end()) out.push_back(it->second);
  for (const auto& [tid, last] : by_tid) {
    if (tid != crashed.crash.tid) out.push_back(last);
  }
  return out;
}

bool process_gone(int pid) { return pid != 0 && kill(pid, 0) != 0 && errno == ESRCH; }

// How a followed process that is gone ended, from its ring file (if an input): "exited"
// (shutdown or a normal exit), or "died" (killed: SIGKILL, the OOM killer).
std::string ended_how(logcat::Inputs& inputs, int pid) {
  for (const auto& r : inputs.rings()) {
    if (r.pid == pid && r.state == blackbox::RingState::exited) return "exited";
  }
  return "died";
}

// A crash report is an event of a process at a time: shown when its process and its time
// pass the filters (and the level, as a fatal event; and the trace, if one is asked for).
bool crash_passes(const logcat::Crashed& c, const logcat::Selection& selection) {
  const blackbox::ReadFilter& f = selection.read;
  if (f.pid && *f.pid != c.pid) return false;
  if (c.crash.time_ns < f.since_ns || c.crash.time_ns >= f.until_ns) return false;
  if (f.min_level > blackbox::Level::fatal) return false;
  if (f.trace_id && !(c.crash.has_trace && c.crash.trace_id == *f.trace_id)) return false;
  return true;
}

// The app and host of a record's process, from the inputs' archive file headers and ring
// files, by (pid, process start); read again when a process is new (following).
logcat::ProcessLookup process_lookup(logcat::Inputs& inputs) {
  using Key = std::pair<std::int32_t, std::int64_t>;
  auto known = std::make_shared<std::map<Key, logcat::ProcessFacts>>();
  auto refresh = [&inputs, known] {
    for (const auto& f : inputs.archive_files()) {
      (*known)[{f.pid, f.process_start_ns}] = {f.app, f.host};
    }
    for (const auto& r : inputs.rings()) (*known)[{r.pid, r.start_time_ns}] = {r.app, r.host};
  };
  return [known, refresh](const Record& r) -> logcat::ProcessFacts {
    const Key key{r.pid, r.process_start_ns};
    auto it = known->find(key);
    if (it == known->end()) {
      refresh();
      // Unknown even now (no header of its own read): asked once, remembered as unknown.
      it = known->try_emplace(key).first;
    }
    return it->second;
  };
}

// Whether the records are shown as one trace: --trace as text (a tree of spans), or --span.
bool trace_view(const Args& a, const logcat::Selection& selection) {
  return selection.read.trace_id && (a.output == "text" || selection.span);
}

// --trace as text (a tree of spans), and --span in any format (that span's subtree): the
// trace's records are read whole first (a trace is small, and its spans' parents are only
// known from their end records).
void print_trace(const logcat::Selection& selection, logcat::Inputs& inputs, bool text, bool colour,
                 bool utc, logcat::Output& out, const std::function<bool(const Record&)>& print) {
  std::vector<Record> records;
  inputs.read_all([&](const Record& r) {
    records.push_back(r);
    return true;
  });
  // The inputs read the whole trace (the tree needs every span's start and end); the other
  // filters choose what is shown.
  const logcat::SpanTree tree(records);
  auto shown = [&](const Record& r) {
    if (selection.span && !(r.has_trace && tree.within(logcat::span_number(r), *selection.span))) {
      return false;
    }
    return selection.pass_read_filter(r) && selection.pass_decoded(r);
  };
  if (text) {
    logcat::render_trace(records, tree, selection.span, shown, colour, utc, out.buffer());
    return;
  }
  for (const Record& r : records) {
    if (shown(r) && !print(r)) break;
  }
}

int print_records(Args& a, const logcat::Selection& selection, logcat::Inputs& inputs) {
  const auto format = a.output == "json"     ? logcat::Format::json
                      : a.output == "logfmt" ? logcat::Format::logfmt
                      : a.output == "raw"    ? logcat::Format::raw
                                             : logcat::Format::text;
  const bool colour = a.colour == "always" || (a.colour == "auto" && isatty(STDOUT_FILENO) &&
                                               std::getenv("NO_COLOR") == nullptr);
  logcat::set_read_module_files(!a.no_symbols);
  const bool terminal = isatty(STDOUT_FILENO) != 0;
  blackbox::text::TextOptions text;
  text.layout = a.layout == "brief"        ? blackbox::text::Layout::brief
                : a.layout == "time"       ? blackbox::text::Layout::time
                : a.layout == "threadtime" ? blackbox::text::Layout::threadtime
                : a.layout == "long"       ? blackbox::text::Layout::long_form
                                           : blackbox::text::Layout::standard;
  text.time = a.time_format == "iso"           ? blackbox::text::TimeFormat::iso
              : a.time_format == "iso-precise" ? blackbox::text::TimeFormat::iso_precise
              : a.time_format == "unix"        ? blackbox::text::TimeFormat::unix_seconds
              : a.time_format == "mono"        ? blackbox::text::TimeFormat::mono
              : a.time_format == "delta"       ? blackbox::text::TimeFormat::delta
                                               : blackbox::text::TimeFormat::automatic;
  text.full_ids = a.full_ids || !terminal;
  // The default line shows the pid when the inputs hold several processes (of those the
  // filters let through), and the app when several apps.
  {
    std::set<std::pair<std::int32_t, std::int64_t>> processes;
    std::set<std::string> apps;
    auto note = [&](std::int32_t pid, std::int64_t start, const std::string& app) {
      if (!selection.pass_process(pid, start, app)) return;
      processes.insert({pid, start});
      apps.insert(app);
    };
    inputs.scan();
    for (const auto& f : inputs.archive_files()) {
      if (f.header_ok) note(f.pid, f.process_start_ns, f.app);
    }
    for (const auto& r : inputs.rings()) note(r.pid, r.start_time_ns, r.app);
    // An app asked for by name that no input holds: said, not an empty output and exit 0.
    if (!a.apps.empty() && apps.empty()) {
      std::set<std::string> known;
      for (const auto& f : inputs.archive_files()) {
        if (f.header_ok) known.insert(f.app);
      }
      for (const auto& r : inputs.rings()) known.insert(r.app);
      if (std::none_of(a.apps.begin(), a.apps.end(),
                       [&](const std::string& app) { return known.contains(app); })) {
        // The names come from files (and the command line): escaped before a terminal.
        blackbox::text::Buffer names(256), asked(64);
        for (const auto& name : known) {
          if (names.size() != 0) names += ", ";
          blackbox::text::append_printable(name, names);
        }
        blackbox::text::append_printable(a.apps.front(), asked);
        std::fprintf(stderr, "logcat: no app named %s in these inputs (%s%s)\n",
                     std::string(asked.view()).c_str(),
                     known.empty() ? "none" : "apps: ", std::string(names.view()).c_str());
        return 1;
      }
    }
    text.pid = processes.size() > 1;
    if (apps.size() > 1) {
      for (const auto& name : apps) text.app_width = std::max(text.app_width, name.size());
    }
  }
  const bool with_app = text.app_width != 0 || text.layout == blackbox::text::Layout::long_form;
  const logcat::ProcessLookup app_of = with_app ? process_lookup(inputs) : logcat::ProcessLookup{};
  logcat::Renderer renderer(format, colour, a.utc, text);
  // JSON and logfmt lines name the record's app: looked up once per process, not per line.
  const logcat::ProcessLookup facts_of =
      format == logcat::Format::json || format == logcat::Format::logfmt ? process_lookup(inputs)
                                                                         : logcat::ProcessLookup{};
  std::pair<std::int32_t, std::int64_t> app_key{0, 0};
  std::string app_name;
  auto machine_app = [&](const Record& r) -> std::string_view {
    if (!facts_of) return {};
    if (app_name.empty() || app_key != std::pair{r.pid, r.process_start_ns}) {
      app_key = {r.pid, r.process_start_ns};
      app_name = facts_of(r).app;
    }
    return app_name;
  };
  logcat::SpanWording spans;  // end records read as in the tree
  std::unique_ptr<logcat::Exporter> exporter;
  if (a.output == "otlp") exporter = logcat::make_otlp_exporter(process_lookup(inputs));
  if (a.output == "chrome") exporter = logcat::make_chrome_exporter(process_lookup(inputs));
  logcat::Output out;
  if (!a.follow && !a.no_pager && isatty(STDOUT_FILENO)) {
    // As journalctl: output longer than the screen goes through $PAGER (less -R by
    // default; PAGER=cat or an empty PAGER: none).
    const char* pager = std::getenv("PAGER");
    winsize ws{};
    const std::size_t rows =
        ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 1 ? ws.ws_row - 1 : 23;
    if (pager == nullptr || (*pager != '\0' && std::string_view(pager) != "cat")) {
      out.page_if_longer_than(rows, pager != nullptr ? pager : "");
    }
  }
  // --show-cursor and --cursor-file: the cursor after the last record printed.
  logcat::Cursor cursor = a.cursor.value_or(logcat::Cursor{});
  const bool keep_cursor = a.show_cursor || !a.cursor_file.empty();
  auto after_cursor = [&](const Record& r) { return !a.cursor || !a.cursor->seen(r); };
  auto save_cursor = [&] {
    if (a.cursor_file.empty() || cursor.empty()) return true;
    if (const std::string error = logcat::write_cursor_file(a.cursor_file, cursor);
        !error.empty()) {
      std::fprintf(stderr, "logcat: %s\n", error.c_str());
      return false;
    }
    return true;
  };
  std::size_t printed = 0;
  auto print = [&](const Record& r) {
    ++printed;
    if (keep_cursor) cursor.advance(r);
    if (exporter) {
      exporter->add(r, out.buffer());
    } else if (format == logcat::Format::text) {
      const std::string app = with_app ? app_of(r).app : std::string();
      renderer.render(spans.reword(r), out.buffer(), app);
    } else {
      renderer.render(r, out.buffer(), machine_app(r));
    }
    return out.commit();
  };
  auto flush = [&] {
    if (exporter) exporter->flush(out.buffer());
    out.flush();
  };
  // A post-mortem: each crash report that passes the filters, in its place in time among
  // the records, in the output's own format (nothing in raw; the exports carry records
  // only). Its per-thread lines say what every thread was doing last.
  std::vector<logcat::Crashed> crashed;
  std::set<std::pair<std::int32_t, std::int64_t>> reported;  // (pid, crash time)
  for (auto& c : crashed_processes(inputs)) {
    if (!crash_passes(c, selection)) continue;
    reported.insert({c.pid, c.crash.time_ns});
    crashed.push_back(std::move(c));
  }
  std::stable_sort(crashed.begin(), crashed.end(),
                   [](const auto& x, const auto& y) { return x.crash.time_ns < y.crash.time_ns; });
  if (a.reverse) std::reverse(crashed.begin(), crashed.end());
  std::size_t next_crash = 0;
  // The reports due before a record at `time_ns`: earlier ones (later ones when reversed).
  auto crashes_until = [&](std::int64_t time_ns) {
    for (;
         next_crash < crashed.size() && (a.reverse ? crashed[next_crash].crash.time_ns >= time_ns
                                                   : crashed[next_crash].crash.time_ns <= time_ns);
         ++next_crash) {
      if (!exporter) {
        render_crash(crashed[next_crash], last_records(crashed[next_crash]), format, a.utc,
                     out.buffer());
      }
    }
  };
  auto print_in_time = [&](const Record& r) {
    crashes_until(r.time_ns);
    return print(r);
  };
  if (trace_view(a, selection)) {
    crashes_until(std::numeric_limits<std::int64_t>::max());  // the tree is a view of its own
    const bool tree = a.output == "text";
    print_trace(selection, inputs, tree, colour, a.utc, out, print);
  } else if (!a.last_n && !a.reverse) {
    inputs.read_all([&](const Record& r) { return !after_cursor(r) || print_in_time(r); });
  } else if (a.reverse) {
    // Newest first: the records (the last N) are read, then printed backwards.
    std::vector<Record> all;
    inputs.read_all([&](const Record& r) {
      if (!after_cursor(r)) return true;
      all.push_back(r);
      // Only the last N are kept: drop the oldest half of the excess at a time.
      if (a.last_n && all.size() >= 2 * *a.last_n + 1) {
        all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(*a.last_n));
      }
      return true;
    });
    if (a.last_n) {
      // The newest N entries, crash reports counting as entries (`crashed` is newest first
      // here): a suffix of the records and a prefix of the reports.
      std::size_t records_kept = 0, reports_kept = 0;
      for (std::size_t i = all.size(), j = 0;
           records_kept + reports_kept < *a.last_n && (i > 0 || j < crashed.size());) {
        if (j < crashed.size() && (i == 0 || crashed[j].crash.time_ns > all[i - 1].time_ns)) {
          ++j;
          ++reports_kept;
        } else {
          --i;
          ++records_kept;
        }
      }
      all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(records_kept));
      crashed.resize(reports_kept);
    }
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      if (!print_in_time(*it)) break;
    }
  } else {
    std::deque<Record> last;  // the last N, as they go by
    inputs.read_all([&](const Record& r) {
      if (!after_cursor(r)) return true;
      if (*a.last_n == 0) return true;
      if (last.size() == *a.last_n) last.pop_front();
      last.push_back(r);
      return true;
    });
    // -n counts entries of either kind: a crash report that passes the filters is one, in
    // its place in time (other threads may log after the crash, until the process dies).
    // The last N of records and reports merged: a suffix of each.
    std::size_t records_kept = 0, reports_kept = 0;
    for (std::size_t i = last.size(), j = crashed.size();
         records_kept + reports_kept < *a.last_n && (i > 0 || j > 0);) {
      if (j > 0 && (i == 0 || crashed[j - 1].crash.time_ns > last[i - 1].time_ns)) {
        --j;
        ++reports_kept;
      } else {
        --i;
        ++records_kept;
      }
    }
    last.erase(last.begin(), last.end() - static_cast<std::ptrdiff_t>(records_kept));
    next_crash = crashed.size() - reports_kept;  // the earlier reports are not shown
    for (const Record& r : last) {
      if (!print_in_time(r)) break;
    }
  }
  crashes_until(a.reverse ? std::numeric_limits<std::int64_t>::min()
                          : std::numeric_limits<std::int64_t>::max());
  flush();
  if (!a.pid_ring_missing.empty() && printed == 0 && crashed.empty() && !a.follow) {
    std::fprintf(stderr, "logcat: nothing of pid %d: no ring file in %s, no archived record\n",
                 a.pid, a.pid_ring_missing.c_str());
  }
  // -f: poll the inputs (growing files, new files after a rotation, live rings) until
  // interrupted, the output closes, or the process followed with -p has exited.
  // A followed process that crashes shows its report when it happens (its ring says so);
  // one followed with -p that ends without one says how it ended.
  auto report_new_crashes = [&] {
    // Rings only: read_new() has just scanned the archives, and a report reaches an archive
    // only when a later start recovers the ring.
    for (auto& c : crashed_rings(inputs)) {
      if (!crash_passes(c, selection) || !reported.insert({c.pid, c.crash.time_ns}).second) {
        continue;
      }
      if (!exporter) render_crash(c, last_records(c), format, a.utc, out.buffer());
    }
  };
  // Polls: a live ring is shared memory, which no file event says has grown. While records
  // come, every 10 ms (a burst reads as it happens); each empty poll doubles the wait, up to
  // --interval (an idle follower costs a few polls a second).
  const double busy_s = std::min(0.01, a.interval_s);
  double wait_s = busy_s;
  while (a.follow && !out.closed()) {
    const bool gone = process_gone(a.pid);
    const timespec pause{
        static_cast<time_t>(wait_s),
        static_cast<long>((wait_s - static_cast<double>(static_cast<time_t>(wait_s))) * 1e9)};
    nanosleep(&pause, nullptr);
    const std::size_t got =
        inputs.read_new([&](const Record& r) { return !after_cursor(r) || print(r); });
    wait_s = got != 0 ? busy_s : std::min(2 * wait_s, a.interval_s);
    report_new_crashes();
    if (gone && !exporter) {
      bool crashed_report = false;
      for (const auto& key : reported) crashed_report = crashed_report || key.first == a.pid;
      if (!crashed_report)
        logcat::render_end(a.pid, ended_how(inputs, a.pid), format, out.buffer());
    }
    flush();
    if (got != 0 && !save_cursor()) return 1;
    if (gone) break;  // it had exited before this last read: everything is in
  }
  if (exporter) {
    exporter->finish(out.buffer());
    out.flush();
  }
  if (a.show_cursor && !cursor.empty() && !out.closed()) {
    // journalctl's "-- cursor: " line; a JSON object in JSON lines.
    out.buffer() += a.output == "json" ? "{\"cursor\":\"" + cursor.text() + "\"}\n"
                                       : "-- cursor: " + cursor.text() + "\n";
    out.flush();
  }
  if (!out.closed() && !save_cursor()) return 1;
  if (out.failed()) return 1;
  return inputs.damaged() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);  // a closed pipe ends output quietly (EPIPE)
  blackbox::tools::install_truncation_guard("logcat");
  CLI::App app{kDescription};
  app.get_formatter()->column_width(34);
  Args args;
  add_selection_options(app, args);
  app.add_option("-o,--output", args.output,
                 "text (default), json (one object per line), logfmt, raw (message only), otlp "
                 "(OTLP/JSON log records, a request per line) or chrome (Trace Event JSON "
                 "for Perfetto UI and chrome://tracing)")
      ->check(CLI::IsMember({"text", "json", "logfmt", "raw", "otlp", "chrome"}));
  app.add_option("--color", args.colour, "auto (on a terminal, unless NO_COLOR), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  app.add_option("-v,--format", args.layout,
                 "text lines as adb logcat's -v: brief, time, threadtime (date, time, pid, tid, "
                 "level, tag, message), long (a header line, the message, then fields, ids and "
                 "call site), or standard (the default: pid and app too when the inputs hold "
                 "several)")
      ->check(CLI::IsMember({"standard", "brief", "time", "threadtime", "long"}));
  app.add_option("--time-format", args.time_format,
                 "iso (seconds and UTC offset), iso-precise (nanoseconds), unix (seconds since "
                 "1970), mono (seconds since the process started), delta (since the previous "
                 "line: bursts)")
      ->check(CLI::IsMember({"iso", "iso-precise", "unix", "mono", "delta"}));
  app.add_option("-F,--distinct", args.distinct,
                 "the distinct values of field NAME (or tag, thread, level, pid, app) with "
                 "their counts, most frequent first, as journalctl -F; only chunks whose call "
                 "sites have the field are read");
  app.add_flag("-N,--fields", args.field_names,
               "the names of the fields present, as journalctl -N (from the archives' call "
               "site definitions: no record decoded)");
  app.add_flag("--full-ids", args.full_ids,
               "whole 32-hex trace ids on a terminal (they are shortened to 8 there; files and "
               "pipes always get them whole)");
  app.add_option("-n,--lines,-t", args.lines,
                 "only the last N records (after filtering), or all; -f shows the last 10 "
                 "before following unless -n says otherwise (-t N: adb logcat's spelling)");
  app.add_flag("-r,--reverse", args.reverse, "newest first (not with -f)");
  bool dump = false;
  app.add_flag("-d", dump, "print and exit: what logcat does without -f (adb logcat's -d)");
  app.add_flag("--no-pager", args.no_pager,
               "never page: on a terminal, output longer than the screen otherwise goes "
               "through $PAGER (default less -R)");
  app.add_flag("-f,--follow", args.follow,
               "keep printing new records as they arrive (growing archives, rotation, live "
               "rings); with -p, until that process exits");
  app.add_option("--interval", args.interval_s,
                 "the longest wait between polls when following, in seconds (while records "
                 "come: 10 ms)")
      ->check(CLI::Range(0.01, 60.0));
  app.add_flag("--show-cursor", args.show_cursor,
               "after the last record, print \"-- cursor: C\": where this read ended");
  app.add_option("--after-cursor", args.after_cursor,
                 "only records after cursor C (as --show-cursor printed it): each record once, "
                 "across rotation and records moving from rings into the archive; use the "
                 "same filters");
  app.add_option("--cursor-file", args.cursor_file,
                 "resume after the cursor in FILE (if it exists), and write the new one there "
                 "atomically at the end (and while following)")
      ->excludes("--after-cursor");

  CLI::App* stats = app.add_subcommand(
      "stats", "records per level, tag, call site and thread; losses; damage; rate over time");
  Args stats_args;
  add_selection_options(*stats, stats_args);
  CLI::App* verify = app.add_subcommand("verify",
                                        "check every frame of archives and ring files; exit 1 on "
                                        "damage, naming each damaged range by offset");
  std::vector<std::string> verify_paths;
  verify->add_option("inputs", verify_paths, "archive files or directories, ring files")
      ->required();
  CLI::App* recover = app.add_subcommand(
      "recover",
      "turn the ring files of dead processes (crashed, killed) into archive files, and remove "
      "them");
  std::string recover_dir, recover_archive, recover_app;
  recover->add_option("dir", recover_dir,
                      "the ring directory (default: BBX_DIR or /dev/shm/blackbox-UID)");
  recover->add_option("--archive-dir", recover_archive,
                      "where the archive files go (default: BBX_ARCHIVE_DIR or the default "
                      "archive directory)");
  recover->add_option("--app", recover_app, "only this app's ring files");
  CLI::App* runs = app.add_subcommand(
      "runs",
      "every run (a process's life) in the inputs: app, pid, start, end, how it ended "
      "(exited, crashed with a signal, killed, running), records and losses; from the "
      "archives' indexes and the ring files, no record decoded");
  Args runs_args;
  runs_args.all_rings = true;
  runs->add_option("inputs", runs_args.positional, "archive files or directories, ring files");
  runs->add_option("-u,--app", runs_args.apps, "only this app's runs (repeatable)");
  runs->add_flag("--utc", runs_args.utc, "times in UTC (default: local time)");
  runs->add_option("-o,--output", runs_args.output, "text (a table, default) or json (a line each)")
      ->check(CLI::IsMember({"text", "json"}));
  CLI::App* ctl = app.add_subcommand(
      "ctl",
      "control a live process through its ring file: level TAG=LEVEL|LEVEL... [--for 10m], "
      "levels, rate SPEC (net=1000/s,*=100000/s; none), rates, flush, rotate, dump [FILE]; "
      "applied within one flush interval, recorded in its archive (tag blackbox)");
  logcat::CtlArgs ctl_args;
  ctl->add_option("-p,--pid", ctl_args.pid, "the process");
  ctl->add_option("--app", ctl_args.app, "every live process of this app");
  ctl->add_option("action", ctl_args.action,
                  "level TAG=LEVEL (or LEVEL: the default level) ..., levels, rate SPEC, rates, "
                  "flush, rotate, dump [FILE]")
      ->required();
  ctl->add_option("--for", ctl_args.for_text,
                  "level: revert after this long (10m, 90s, 1h30m); the process reverts it by "
                  "itself, whether or not logcat still runs");
  ctl->add_option("--timeout", ctl_args.timeout_s, "seconds to wait for the process to apply it")
      ->check(CLI::Range(0.1, 3600.0));
  ctl->add_option("-o,--output", ctl_args.output, "levels: text or json")
      ->check(CLI::IsMember({"text", "json"}));
  CLI::App* ship = app.add_subcommand(
      "ship",
      "deliver every record of the inputs (archives and live rings, followed) to a "
      "destination: --to clickhouse+http://HOST:PORT/?table=NAME (each record once) or "
      "otlp+http://HOST:PORT[/PATH][?encoding=json] (at least once, with log.record.uid); the "
      "position "
      "is kept in --state FILE, moved only after the destination acknowledged a batch");
  Args ship_sel;
  logcat::ShipArgs ship_args;
  add_selection_options(*ship, ship_sel);
  ship->add_option("--to", ship_args.to,
                   "the destination: clickhouse+http://HOST:PORT/?table=NAME[&database=DB] or "
                   "otlp+http://HOST:PORT[/PATH][?encoding=protobuf|json] (port 4318, /v1/logs)")
      ->required();
  ship->add_option("--state", ship_args.state,
                   "the state file: the cursor after the last batch the destination acknowledged "
                   "(replaced atomically; a restart resumes there)")
      ->required();
  ship->add_option("--batch-records", ship_args.batch_records, "records per batch at most")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000'000}));
  ship->add_option("--batch-bytes", ship_args.batch_bytes, "bytes of rows per batch at most")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30));
  ship->add_option("--batch-wait", ship_args.batch_wait_s,
                   "seconds a record waits at most for its batch to fill")
      ->check(CLI::Range(0.0, 3600.0));
  ship->add_option("--timeout", ship_args.http.timeout_s, "seconds per request")
      ->check(CLI::Range(0.1, 3600.0));
  ship->add_option("--backoff-max", ship_args.backoff_max_s,
                   "the longest wait between two tries of a batch, in seconds")
      ->check(CLI::Range(0.1, 3600.0));
  ship->add_option("--interval", ship_args.interval_s,
                   "the longest wait between polls of the inputs, in seconds")
      ->check(CLI::Range(0.01, 60.0));
  ship->add_flag("--once", ship_args.once, "ship what is there, then exit (no following)");
  ship->add_option("--compress", ship_args.http.compress,
                   "gzip (default), zstd (where the receiver takes Content-Encoding: zstd) or none")
      ->check(CLI::IsMember({"gzip", "zstd", "none"}));
  ship->add_flag_callback(
      "--no-gzip", [&ship_args] { ship_args.http.compress = "none"; },
      "the same as --compress none");
  ship->add_option("--header", ship_args.http.headers,
                   "'Name: value' sent with every request (repeatable; e.g. an Authorization)");
  ship->add_flag("!--no-telemetry", ship_args.telemetry,
                 "no ring file of its own (no metrics for logcat top and logcat metrics)");
  CLI::App* top = app.add_subcommand(
      "top",
      "every blackbox process of this user (root: of every user): pid, app, state, uptime, "
      "records/s, losses by cause, archive lag, disk breaker, levels set apart from the default");
  logcat::TopArgs top_args;
  top->add_option("-d,--delay", top_args.delay_s, "seconds between refreshes")
      ->check(CLI::Range(0.1, 3600.0));
  top->add_option("-n,--iterations", top_args.iterations, "refresh this many times, then exit");
  top->add_option("-o,--output", top_args.output, "text (a table) or json (an object a refresh)")
      ->check(CLI::IsMember({"text", "json"}));
  top->add_option("--app", top_args.app, "only this app's processes");
  top->add_flag("--utc", top_args.utc, "times in UTC");
  CLI::App* metrics = app.add_subcommand(
      "metrics",
      "the application metrics of live processes (or of ring files and dumps given): counters, "
      "gauges, histograms (bars and quantiles), text; -o prometheus for the Prometheus text "
      "exposition; --serve ADDRESS:PORT serves /metrics for every live process of the host");
  logcat::MetricsArgs metrics_args;
  metrics->add_option("inputs", metrics_args.inputs,
                      "ring files or dumps (with --since: archives, and metric names)");
  metrics->add_option("-p,--pid", metrics_args.pid, "the process");
  metrics->add_option("--app", metrics_args.app, "every live process of this app");
  metrics->add_option("-o,--output", metrics_args.output, "text (default), json or prometheus")
      ->check(CLI::IsMember({"text", "json", "prometheus"}));
  metrics->add_option("--serve", metrics_args.serve,
                      "serve the Prometheus exposition of every live process of the host at "
                      "http://ADDRESS:PORT/metrics (port 0: any free port, said on stdout)");
  metrics->add_flag("--utc", metrics_args.utc, "times in UTC");
  metrics->add_option("--since", metrics_args.since,
                      "history from the archives' snapshots over the last DURATION (1h, 30m): "
                      "counters as rates, histograms as quantiles, gauges and text as last "
                      "values, per step, merged across the processes and runs of each app; other "
                      "arguments name the metrics (a name or a prefix), or archive files and "
                      "directories (default: the archive directory)");
  metrics->add_option("--step", metrics_args.step,
                      "--since: the width of a row (default: 10s up to 30 minutes, else 1m)");
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", "logcat (blackbox) " BLACKBOX_VERSION_STRING);
  logcat::one_value_per_option(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // CLI11's own words ("The following argument was not expected: -x"), said as every
    // other usage error is: logcat's name first, what was probably meant, --help last.
    std::string what = e.what();
    if (!what.empty())
      what[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(what[0])));
    std::fprintf(stderr, "logcat: %s%s (see --help)\n", what.c_str(),
                 logcat::usage_hint(app, e, argc, argv).c_str());
    return 2;
  }
  if (*verify) return logcat::run_verify(verify_paths);
  if (*ctl) return logcat::run_ctl(ctl_args);
  if (*top) return logcat::run_top(top_args);
  if (*metrics) return logcat::run_metrics(metrics_args);
  if (*recover) return logcat::run_recover(recover_dir, recover_archive, recover_app);

  if (*ship) {
    ship_sel.cursor_file = ship_args.state;  // select() reads it: the readers start there
    ship_sel.all_rings = true;               // live rings too, with no input named
    ship_sel.make_archive_dir = true;
  }
  Args& a = *stats ? stats_args : *runs ? runs_args : *ship ? ship_sel : args;
  logcat::Selection selection;
  std::vector<std::string> paths;
  if (const int rc = select(a, selection, paths); rc != 0) return rc == kNoLogsYet ? 0 : rc;
  // Text and raw lines need only the message: the readers then skip the typed fields.
  selection.read.fields = *stats || (a.output != "text" && a.output != "raw") ||
                          !selection.fields.empty() || a.layout == "long";
  // JSON and logfmt lines are written straight from the encoded arguments when nothing
  // else needs the message or the fields (a message pattern, --field, stats, a trace view).
  selection.read.encoded = (a.output == "json" || a.output == "logfmt") && !*stats && !*runs &&
                           selection.regex == nullptr && selection.fields.empty() &&
                           a.distinct.empty() && !a.field_names;
  if (!a.distinct.empty()) logcat::prepare_distinct(a.distinct, selection);
  bool unopened = false;
  auto open_inputs = [&](const logcat::Selection& read, bool report) {
    auto inputs = std::make_unique<logcat::Inputs>(read);
    for (const auto& path : paths) {
      std::string error;
      // A shipper may start before the service it ships has written anything.
      if (!inputs->add(path, error, !*ship && path != a.implicit_archive_dir) && report) {
        std::fprintf(stderr, "logcat: %s\n", error.c_str());
        unopened = true;
      }
    }
    return inputs;
  };
  if (!a.trace.empty() && !selection.read.trace_id) {
    if (const int rc = resolve_trace_prefix(a, selection, *open_inputs(selection, false));
        rc != 0) {
      return rc;
    }
  }
  if (*ship) {
    selection.read.fields = true;
    // Retention must not delete what it has not shipped: a hold in each archive directory.
    for (const auto& path : paths) {
      struct stat st {};
      if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) ship_args.hold_dirs.push_back(path);
    }
    const auto inputs = open_inputs(selection, true);
    // Processes that start later: their rings are read live too.
    if (!a.implicit_ring_dir.empty()) inputs->watch_ring_dir(a.implicit_ring_dir);
    const int rc =
        logcat::run_ship(ship_args, *inputs, selection, process_lookup(*inputs), a.cursor);
    return rc == 0 && unopened ? 1 : rc;
  }
  // Runs read only bbx-run's records (to join a wrapped program's run to its bbx-run's):
  // chunks without its call sites are not even decompressed.
  auto only_bbx_run = [](std::string_view tag, blackbox::Level) { return tag == "bbx-run"; };
  if (*runs) {
    selection.read.site = only_bbx_run;
    const auto inputs = open_inputs(selection, true);
    const int rc = logcat::run_runs(*inputs, a.apps, a.utc, a.output == "json");
    return rc == 0 && unopened ? 1 : rc;
  }
  if (a.run) {
    // The run's process: its pid and start time select its records in every input.
    logcat::Selection any;
    any.read.apps = a.apps;
    any.read.pid = selection.read.pid;
    any.read.site = only_bbx_run;
    const std::vector<logcat::Run> all = logcat::find_runs(*open_inputs(any, false), a.apps);
    std::vector<logcat::Run> of_pid;
    for (const auto& r : all) {
      if (!any.read.pid || r.pid == *any.read.pid) of_pid.push_back(r);
    }
    std::string error;
    const logcat::Run* run = logcat::pick_run(of_pid, *a.run, error);
    if (run == nullptr) {
      std::fprintf(stderr, "logcat: %s\n", error.c_str());
      return 1;
    }
    selection.read.pid = run->pid;
    selection.read.process_start_ns = run->start_ns;
  }
  if (!a.distinct.empty() || a.field_names) {
    const auto inputs = open_inputs(selection, true);
    const int rc = a.field_names ? logcat::run_field_names(*inputs, selection)
                                 : logcat::run_distinct(*inputs, selection, a.distinct,
                                                        process_lookup(*inputs));
    return rc == 0 && unopened ? 1 : rc;
  }
  if (selection.span && !selection.read.trace_id) {
    // --span alone: its trace is that of the first record in the span (whatever the other
    // filters say).
    logcat::Selection any;
    any.read.fields = false;
    open_inputs(any, false)->read_all([&](const Record& r) {
      if (!r.has_trace || logcat::span_number(r) != *selection.span) return true;
      selection.read.trace_id = r.trace_id;
      return false;
    });
    if (!selection.read.trace_id) {
      std::fprintf(stderr, "logcat: no record of span %016llx in the inputs\n",
                   static_cast<unsigned long long>(*selection.span));
      return 1;
    }
  }
  // A trace view reads its whole trace (with the fields: span end records' duration and
  // parent), and filters what it shows itself.
  logcat::Selection whole_trace;
  whole_trace.read.trace_id = selection.read.trace_id;
  whole_trace.read.fields = true;
  const std::unique_ptr<logcat::Inputs> inputs =
      open_inputs(!*stats && trace_view(a, selection) ? whole_trace : selection, true);
  const int rc = *stats ? logcat::run_stats(*inputs, a.utc) : print_records(a, selection, *inputs);
  if (*stats) print_telemetry(*inputs, paths, selection, a.utc);
  return rc == 0 && unopened ? 1 : rc;
}
