// logcat ctl, logcat top and the telemetry view. See control.hpp.
#include "control.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>

#include "blackbox/config.hpp"
#include "blackbox/text.hpp"
#include "json.hpp"
#include "render.hpp"
#include "select.hpp"
#include "spans.hpp"

namespace logcat {
namespace {

using blackbox::LevelsState;
using blackbox::RingInfo;
using blackbox::RingState;
using blackbox::Telemetry;

std::int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void sleep_ns(std::int64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// "3h12m", "45s": an uptime or a time left, to the second.
std::string short_span(std::int64_t ns) {
  if (ns < 0) ns = 0;
  std::int64_t s = ns / 1'000'000'000;
  std::string out;
  if (s >= 86400) out += fmt::format("{}d", s / 86400), s %= 86400;
  if (s >= 3600) out += fmt::format("{}h", s / 3600), s %= 3600;
  if (s >= 60 && out.size() < 4) out += fmt::format("{}m", s / 60), s %= 60;
  if ((s != 0 || out.empty()) && out.size() < 4) out += fmt::format("{}s", s);
  return out;
}

// "12.3k": a rate or a count, short.
std::string short_count(double n) {
  if (n < 1000) return fmt::format("{:.0f}", n);
  if (n < 1e6) return fmt::format("{:.1f}k", n / 1e3);
  if (n < 1e9) return fmt::format("{:.1f}M", n / 1e6);
  return fmt::format("{:.1f}G", n / 1e9);
}

std::string state_name(const RingInfo& info) {
  switch (info.state) {
    case RingState::live:
      return info.process_alive ? "live" : "killed";
    case RingState::exited:
      return "exited";
    case RingState::crashed:
      return "crashed";
  }
  return "?";
}

// The levels that differ from the default: the spec's tags, a timed one with its time left.
std::string level_overrides(const std::optional<LevelsState>& levels, std::int64_t now) {
  if (!levels) return "-";
  std::string out;
  const std::size_t comma = levels->spec.find(',');
  std::string rest = comma == std::string::npos ? "" : levels->spec.substr(comma + 1);
  std::size_t at = 0;
  while (at < rest.size()) {
    std::size_t end = rest.find(',', at);
    if (end == std::string::npos) end = rest.size();
    const std::string item = rest.substr(at, end - at);
    const std::string tag = item.substr(0, item.find('='));
    out += (out.empty() ? "" : ",") + item;
    for (const auto& t : levels->timed) {
      if (t.tag == tag) out += fmt::format("({})", short_span(t.until_ns - now));
    }
    at = end + 1;
  }
  for (const auto& t : levels->timed) {
    if (t.tag.empty()) {
      out = fmt::format("*={}({}){}{}", blackbox::level_name(t.level), short_span(t.until_ns - now),
                        out.empty() ? "" : ",", out);
    }
  }
  return out.empty() ? "-" : out;
}

std::string timed_text(const blackbox::TimedLevel& t, std::int64_t now, bool utc) {
  const std::string what = t.tag.empty() ? "default level" : t.tag;
  const std::string back =
      t.back_to_default ? "the default" : std::string(blackbox::level_name(t.back_level));
  return fmt::format("{} = {} until {} ({} left), then back to {}; set by pid {} uid {}", what,
                     blackbox::level_name(t.level), clock_text(t.until_ns, utc),
                     short_span(t.until_ns - now), back, t.pid, t.uid);
}

// One process as `top` and `ctl` see it.
struct Sample {
  std::string path;
  RingInfo info;
  std::optional<Telemetry> telemetry;
  std::optional<LevelsState> levels;
  std::uint64_t logged = 0;
  std::int64_t at_mono = 0;
};

std::optional<Sample> sample(const std::string& path, std::string* error) {
  auto reader = blackbox::RingReader::open(path, error);
  if (reader == nullptr) return std::nullopt;
  Sample s;
  s.path = path;
  s.info = reader->info();
  s.telemetry = reader->telemetry();
  s.levels = reader->levels();
  if (s.telemetry) {
    for (const auto& th : s.telemetry->threads) s.logged += th.logged;
  }
  s.at_mono = mono_ns();
  return s;
}

// The live processes a ctl command is for: -p PID, or every live process of --app.
std::vector<Sample> targets(const CtlArgs& a, std::string& error) {
  std::vector<Sample> out;
  for (const std::string& path : ring_files_on_host()) {
    const std::string name = std::filesystem::path(path).filename();
    if (a.pid != 0 && name.find(fmt::format(".{}.bbr", a.pid)) == std::string::npos) {
      continue;
    }
    std::string why;
    auto s = sample(path, &why);
    if (!s) continue;
    if (a.pid != 0 && s->info.pid != a.pid) continue;
    if (!a.app.empty() && s->info.app != a.app) continue;
    if (s->info.state != RingState::live || !s->info.process_alive) continue;
    out.push_back(std::move(*s));
  }
  if (out.empty()) {
    error = a.pid != 0 ? fmt::format(
                             "no live blackbox process with pid {} (no ring file of it in "
                             "the ring directory)",
                             a.pid)
                       : fmt::format("no live blackbox process of app \"{}\"", a.app);
  }
  return out;
}

struct Cause {
  const char* name;      // as text
  const char* key;       // as JSON
  std::uint64_t n;       // over the run
  std::uint64_t minute;  // over the last minute
};
// In Telemetry::minute_by_cause's order.
std::vector<Cause> causes_of(const Telemetry& t) {
  const auto& m = t.minute_by_cause;
  return {{"overwritten", "overwritten", t.lost_overwritten, m[0]},
          {"no slot", "no_slot", t.lost_no_slot, m[1]},
          {"disk", "disk_error", t.lost_disk_error, m[2]},
          {"site table", "site_table_full", t.lost_site_table_full, m[3]},
          {"after exit", "after_exit", t.lost_after_exit, m[4]},
          {"corrupt", "corrupt", t.lost_corrupt, m[5]},
          {"rate limited", "rate_limited", t.lost_rate_limited, m[6]},
          {"console", "console_not_shown", t.console_not_shown, m[7]}};
}

// {"total":N, then each cause's count}: the same keys as causes_of().
std::string losses_json(const Telemetry& t) {
  std::string out = fmt::format("{{\"total\":{}", t.lost());
  for (const Cause& c : causes_of(t)) out += fmt::format(",\"{}\":{}", c.key, c.n);
  return out + "}";
}

// The causes that cost something, and unshipped files deleted: "1.2k overwritten, 3 disk".
std::string losses_text(const Telemetry& t) {
  std::string out;
  auto add = [&out](const char* name, std::uint64_t n) {
    if (n != 0)
      out += fmt::format("{}{} {}", out.empty() ? "" : ", ", short_count(static_cast<double>(n)),
                         name);
  };
  for (const Cause& c : causes_of(t)) add(c.name, c.n);
  add("unshipped files deleted", t.archive_files_deleted_unshipped);
  return out.empty() ? "0" : out;
}

double share_of(std::uint64_t n, std::uint64_t of) {
  return of == 0 ? 0.0 : static_cast<double>(n) / static_cast<double>(of);
}

// Over the budget in the last minute (the process's own judgement uses the same numbers).
bool over_budget(const Telemetry& t) {
  return t.loss_budget > 0 && t.minute_lost != 0 &&
         static_cast<double>(t.minute_lost) > t.loss_budget * static_cast<double>(t.minute_records);
}

std::string budget_cell(const Telemetry& t) {
  const std::string minute =
      fmt::format("{:.2f}%", 100 * share_of(t.minute_lost, t.minute_records));
  if (t.loss_budget <= 0) return minute;
  return fmt::format("{} {}", over_budget(t) ? "OVER" : "ok", minute);
}

// The archive's lag at `now`: nullopt without an archive (nothing ever archived).
std::optional<std::int64_t> archive_lag(const Telemetry& t, std::int64_t now) {
  if (t.archived_through_ns == 0) return std::nullopt;
  return std::max<std::int64_t>(now - t.archived_through_ns, 0);
}

}  // namespace

std::string budget_lines(const Telemetry& t, bool utc, const std::string& indent) {
  const std::uint64_t records = t.records();
  std::string out = fmt::format("{}run          {} of {} records lost ({:.3f} %)\n", indent,
                                t.lost(), records, 100 * share_of(t.lost(), records));
  out += fmt::format("{}last minute  {} of {} records lost ({:.3f} %)\n", indent, t.minute_lost,
                     t.minute_records, 100 * share_of(t.minute_lost, t.minute_records));
  if (t.loss_budget > 0) {
    out += fmt::format(
        "{}budget       {:.3f} % of records: {}{}\n", indent, 100 * t.loss_budget,
        over_budget(t) ? "OVER in the last minute" : "within it in the last minute",
        t.budget_exceeded_ns != 0
            ? fmt::format("; first over at {}", clock_text(t.budget_exceeded_ns, utc, true))
            : std::string());
  } else {
    out += fmt::format("{}budget       none\n", indent);
  }
  bool header = false;
  for (const Cause& c : causes_of(t)) {  // the causes that cost something
    if (c.n == 0 && c.minute == 0) continue;
    if (!header) {
      out += fmt::format("{}  {:<12} {:>12} {:>11} {:>12} {:>11}\n", indent, "cause", "run",
                         "share", "last minute", "share");
      header = true;
    }
    out += fmt::format("{}  {:<12} {:>12} {:>9.3f} % {:>12} {:>9.3f} %{}\n", indent, c.name, c.n,
                       100 * share_of(c.n, records), c.minute,
                       100 * share_of(c.minute, t.minute_records),
                       std::string_view(c.key) == "console_not_shown"
                           ? fmt::format("  (lines not shown of {}; not in the budget)",
                                         t.console_lines + t.console_not_shown)
                           : "");
  }
  return out;
}

std::string budget_json(const Telemetry& t) {
  const std::uint64_t records = t.records();
  std::string shares, minute_lost, minute_shares;
  for (const Cause& c : causes_of(t)) {
    const char* comma = shares.empty() ? "" : ",";
    shares += fmt::format("{}\"{}\":{:.6g}", comma, c.key, share_of(c.n, records));
    minute_lost += fmt::format("{}\"{}\":{}", comma, c.key, c.minute);
    minute_shares +=
        fmt::format("{}\"{}\":{:.6g}", comma, c.key, share_of(c.minute, t.minute_records));
  }
  return fmt::format(
      "{{\"budget\":{:.6g},\"over\":{},\"exceeded_ns\":{},\"records\":{},\"lost\":{},"
      "\"share\":{:.6g},\"shares\":{{{}}},\"minute\":{{\"records\":{},\"lost\":{},"
      "\"share\":{:.6g},\"by_cause\":{{{}}},\"shares\":{{{}}}}}}}",
      t.loss_budget, over_budget(t) ? "true" : "false", t.budget_exceeded_ns, records, t.lost(),
      share_of(t.lost(), records), shares, t.minute_records, t.minute_lost,
      share_of(t.minute_lost, t.minute_records), minute_lost, minute_shares);
}

std::optional<std::int64_t> parse_duration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    if (i == start) return std::nullopt;
    const double n = std::strtod(text.substr(start, i - start).c_str(), nullptr);
    const std::size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    const std::string unit = text.substr(unit_start, i - unit_start);
    double scale = 0;
    if (unit == "ms")
      scale = 1e6;
    else if (unit.empty() || unit == "s")
      scale = 1e9;
    else if (unit == "m" || unit == "min")
      scale = 60e9;
    else if (unit == "h")
      scale = 3600e9;
    else if (unit == "d")
      scale = 86400e9;
    else
      return std::nullopt;
    if (unit.empty() && i != text.size()) return std::nullopt;
    total += static_cast<std::int64_t>(std::llround(n * scale));
  }
  return total;
}

std::vector<std::string> ring_files_on_host() {
  // Each ring directory with the uid that must own it and its files: ours (BBX_DIR, or the
  // default), and as root every user's /dev/shm/blackbox-UID and their fallback in
  // /run/user/UID/blackbox (a squatted /dev/shm name: Config::default_dir).
  std::vector<std::pair<std::string, uid_t>> dirs = {{blackbox::Config::from_env().dir, geteuid()}};
  std::error_code ec;
  if (geteuid() == 0) {
    for (const auto& e : std::filesystem::directory_iterator("/dev/shm", ec)) {
      const std::string name = e.path().filename();
      unsigned long uid = 0;
      if (name.rfind("blackbox-", 0) == 0 && name.size() > 9 &&
          name.find_first_not_of("0123456789", 9) == std::string::npos) {
        uid = std::stoul(name.substr(9));
        dirs.emplace_back(e.path(), static_cast<uid_t>(uid));
      }
    }
    for (const auto& e : std::filesystem::directory_iterator("/run/user", ec)) {
      const std::string name = e.path().filename();
      if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) {
        dirs.emplace_back(e.path().string() + "/blackbox", static_cast<uid_t>(std::stoul(name)));
      }
    }
  }
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  std::vector<std::string> files;
  for (const auto& [dir, uid] : dirs) {
    // A directory of the user it names, not a link, writable by no one else: otherwise
    // another user could plant files there for root's logcat to take as that user's.
    struct stat ds {};
    if (lstat(dir.c_str(), &ds) != 0 || !S_ISDIR(ds.st_mode) || ds.st_uid != uid ||
        (ds.st_mode & 022) != 0) {
      continue;
    }
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename();
      if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".bbr") != 0 || name[0] == '.') {
        continue;
      }
      struct stat fs {};
      if (lstat(e.path().c_str(), &fs) != 0 || !S_ISREG(fs.st_mode) || fs.st_uid != uid ||
          access(e.path().c_str(), R_OK) != 0) {
        continue;  // a FIFO, a link, a file of another user: never opened
      }
      files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

int run_ctl(const CtlArgs& a) {
  if (a.action.empty()) {
    std::fprintf(
        stderr,
        "logcat: ctl needs an action: level, levels, rate, rates, flush, rotate or dump (see "
        "--help)\n");
    return 2;
  }
  if ((a.pid == 0) == a.app.empty()) {
    std::fprintf(stderr, "logcat: ctl needs -p PID or --app NAME (see --help)\n");
    return 2;
  }
  const std::string& verb = a.action[0];
  std::vector<blackbox::ControlRequest> requests;
  if (verb == "level") {
    if (a.action.size() < 2) {
      std::fprintf(stderr, "logcat: ctl level needs TAG=LEVEL or LEVEL (see --help)\n");
      return 2;
    }
    std::int64_t for_ns = 0;
    if (!a.for_text.empty()) {
      const auto d = parse_duration(a.for_text);
      if (!d || *d <= 0) {
        std::fprintf(stderr, "logcat: bad --for \"%s\" (e.g. 10m, 90s, 1h30m; see --help)\n",
                     a.for_text.c_str());
        return 2;
      }
      for_ns = *d;
    }
    for (std::size_t i = 1; i < a.action.size(); ++i) {
      const std::string& item = a.action[i];
      const std::size_t eq = item.find('=');
      blackbox::ControlRequest r;
      r.kind = blackbox::ControlRequest::Kind::level;
      r.for_ns = for_ns;
      if (eq != std::string::npos) r.tag = item.substr(0, eq);
      const std::string level_text = eq == std::string::npos ? item : item.substr(eq + 1);
      const auto level = blackbox::parse_level(level_text);
      if (!level || (eq != std::string::npos && r.tag.empty())) {
        std::fprintf(stderr,
                     "logcat: bad level \"%s\" (TAG=LEVEL or LEVEL: trace, debug, info, "
                     "warn, error, fatal, off; see --help)\n",
                     item.c_str());
        return 2;
      }
      r.level = *level;
      requests.push_back(r);
    }
  } else if (verb == "flush" || verb == "rotate" || verb == "dump") {
    blackbox::ControlRequest r;
    r.kind = verb == "flush"    ? blackbox::ControlRequest::Kind::flush
             : verb == "rotate" ? blackbox::ControlRequest::Kind::rotate
                                : blackbox::ControlRequest::Kind::dump;
    if (verb == "dump" && a.action.size() > 1) {
      std::error_code ec;
      r.path = std::filesystem::absolute(a.action[1], ec);
    }
    if (a.action.size() > (verb == "dump" ? 2u : 1u) || !a.for_text.empty()) {
      std::fprintf(stderr, "logcat: ctl %s takes %s (see --help)\n", verb.c_str(),
                   verb == "dump" ? "at most a FILE" : "no argument");
      return 2;
    }
    requests.push_back(r);
  } else if (verb == "rate" || verb == "rates") {
    blackbox::ControlRequest r;
    if (verb == "rate") {
      if (a.action.size() != 2 || !a.for_text.empty()) {
        std::fprintf(stderr,
                     "logcat: ctl rate takes one SPEC, e.g. net=1000/s,*=100000/s (none: no "
                     "limits; see --help)\n");
        return 2;
      }
      r.kind = blackbox::ControlRequest::Kind::rate;
      r.rate_spec = a.action[1] == "none" ? std::string() : a.action[1];
    } else {
      if (a.action.size() != 1 || !a.for_text.empty()) {
        std::fprintf(stderr, "logcat: ctl rates takes no argument (see --help)\n");
        return 2;
      }
      r.kind = blackbox::ControlRequest::Kind::rates;
    }
    requests.push_back(r);
  } else if (verb != "levels") {
    std::fprintf(stderr,
                 "logcat: unknown ctl action \"%s\": level, levels, rate, rates, flush, rotate "
                 "or dump (see --help)\n",
                 verb.c_str());
    return 2;
  }
  std::string error;
  const std::vector<Sample> found = targets(a, error);
  if (found.empty()) {
    std::fprintf(stderr, "logcat: %s\n", error.c_str());
    return 1;
  }
  int rc = 0;
  const std::int64_t now = now_ns();
  for (const Sample& s : found) {
    const std::string who = fmt::format("pid {} ({})", s.info.pid, s.info.app);
    if (verb == "levels") {
      if (!s.levels) {
        std::fprintf(stderr, "logcat: %s: its ring file has no levels (format version 1)\n",
                     who.c_str());
        rc = 1;
        continue;
      }
      if (a.output == "json") {
        std::string line =
            fmt::format("{{\"pid\":{},\"app\":{},\"levels\":{},\"timed\":[", s.info.pid,
                        json_string(s.info.app), json_string(s.levels->spec));
        for (std::size_t i = 0; i < s.levels->timed.size(); ++i) {
          const auto& t = s.levels->timed[i];
          line += fmt::format(
              "{}{{\"tag\":{},\"level\":\"{}\",\"until_ns\":{},\"back\":{},\"pid\":{},\"uid\":{}}}",
              i == 0 ? "" : ",", json_string(t.tag), blackbox::level_name(t.level), t.until_ns,
              t.back_to_default ? "null" : json_string(blackbox::level_name(t.back_level)), t.pid,
              t.uid);
        }
        std::printf("%s]}\n", line.c_str());
      } else {
        std::printf("%s: %s\n", who.c_str(), s.levels->spec.c_str());
        for (const auto& t : s.levels->timed)
          std::printf("  %s\n", timed_text(t, now, false).c_str());
      }
      continue;
    }
    for (const auto& r : requests) {
      blackbox::ControlReply reply;
      const std::string failed =
          blackbox::send_control(s.path, r, reply, static_cast<std::int64_t>(a.timeout_s * 1e9));
      if (!failed.empty()) {
        std::fprintf(stderr, "logcat: %s: %s\n", who.c_str(), failed.c_str());
        rc = 1;
      } else if (!reply.applied) {
        std::fprintf(stderr, "logcat: %s refused: %s\n", who.c_str(), reply.result.c_str());
        rc = 1;
      } else {
        std::printf("%s: %s\n", who.c_str(), reply.result.c_str());
      }
    }
  }
  std::fflush(stdout);
  return rc;
}

namespace {

volatile sig_atomic_t g_stop = 0;
void on_interrupt(int) { g_stop = 1; }

std::string top_json(const std::vector<Sample>& now_samples,
                     const std::map<std::string, Sample>& before, std::int64_t now) {
  std::string out = fmt::format("{{\"time_ns\":{},\"processes\":[", now);
  bool first = true;
  for (const Sample& s : now_samples) {
    out += first ? "" : ",";
    first = false;
    const bool live = s.info.state == RingState::live && s.info.process_alive;
    double rate = 0;
    if (auto it = before.find(s.path);
        it != before.end() && live && s.at_mono > it->second.at_mono) {
      rate = static_cast<double>(s.logged - std::min(s.logged, it->second.logged)) /
             (static_cast<double>(s.at_mono - it->second.at_mono) / 1e9);
    }
    out += fmt::format(
        "{{\"pid\":{},\"app\":{},\"state\":\"{}\",\"path\":{},\"uptime_s\":{:.3f},"
        "\"records_per_s\":{:.1f},\"logged\":{}",
        s.info.pid, json_string(s.info.app), state_name(s.info), json_string(s.path),
        static_cast<double>(now - s.info.start_time_ns) / 1e9, rate, s.logged);
    if (s.telemetry) {
      const Telemetry& t = *s.telemetry;
      const auto lag = archive_lag(t, now);
      out += fmt::format(
          ",\"lost\":{},\"archive_lag_s\":{},\"breaker\":{{\"open\":{},\"trips\":{}}},"
          "\"waits\":{{\"count\":{},\"ns\":{},\"gave_up\":{}}},"
          "\"deleted_unshipped\":{{\"files\":{},\"bytes\":{}}},\"budget\":{}",
          losses_json(t), lag ? fmt::format("{:.3f}", static_cast<double>(*lag) / 1e9) : "null",
          t.breaker_open ? "true" : "false", t.breaker_trips, t.producer_waits, t.producer_wait_ns,
          t.producer_gave_up, t.archive_files_deleted_unshipped, t.archive_bytes_deleted_unshipped,
          budget_json(t));
    }
    if (s.levels) {
      out += fmt::format(",\"levels\":{},\"timed_levels\":{}", json_string(s.levels->spec),
                         s.levels->timed.size());
    }
    if (s.info.crash)
      out += fmt::format(",\"signal\":{}", json_string(signal_name(s.info.crash->signal)));
    out += "}";
  }
  return out + "]}\n";
}

std::string top_text(const std::vector<Sample>& now_samples,
                     const std::map<std::string, Sample>& before, std::int64_t now, bool utc,
                     double delay_s) {
  std::string out = fmt::format("logcat top - {}  {} process{}  (every {:.1f} s; Ctrl-C quits)\n\n",
                                clock_text(now, utc), now_samples.size(),
                                now_samples.size() == 1 ? "" : "es", delay_s);
  out +=
      fmt::format("{:>7}  {:<16} {:<15} {:>7} {:>8} {:<24} {:<11} {:>7} {:<9} {}\n", "PID", "APP",
                  "STATE", "UPTIME", "REC/S", "LOST", "LOST/MIN", "LAG", "BREAKER", "LEVELS");
  for (const Sample& s : now_samples) {
    const bool live = s.info.state == RingState::live && s.info.process_alive;
    std::string rate = "-";
    if (auto it = before.find(s.path);
        it != before.end() && live && s.at_mono > it->second.at_mono) {
      rate = short_count(static_cast<double>(s.logged - std::min(s.logged, it->second.logged)) /
                         (static_cast<double>(s.at_mono - it->second.at_mono) / 1e9));
    }
    std::string lost = "-", lag = "-", breaker = "-", minute = "-";
    if (s.telemetry) {
      lost = losses_text(*s.telemetry);
      minute = budget_cell(*s.telemetry);
      if (const auto l = archive_lag(*s.telemetry, live ? now : s.telemetry->updated_ns)) {
        lag = human_duration(static_cast<std::uint64_t>(*l));
      }
      breaker = s.telemetry->breaker_open ? fmt::format("OPEN({})", s.telemetry->breaker_trips)
                : s.telemetry->breaker_trips != 0
                    ? fmt::format("ok({})", s.telemetry->breaker_trips)
                    : "ok";
    }
    std::string state = state_name(s.info);
    if (s.info.crash) state += fmt::format(" {}", signal_name(s.info.crash->signal));
    out += fmt::format("{:>7}  {:<16} {:<15} {:>7} {:>8} {:<24} {:<11} {:>7} {:<9} {}\n",
                       s.info.pid, s.info.app.substr(0, 16), state,
                       live ? short_span(now - s.info.start_time_ns) : "-", rate, lost, minute, lag,
                       breaker, level_overrides(s.levels, now));
  }
  return out;
}

}  // namespace

int run_top(const TopArgs& a) {
  const bool terminal = isatty(STDOUT_FILENO) == 1 && a.output == "text";
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::map<std::string, Sample> before;
  auto take = [&] {
    std::vector<Sample> out;
    for (const std::string& path : ring_files_on_host()) {
      auto s = sample(path, nullptr);
      if (!s || (!a.app.empty() && s->info.app != a.app)) continue;
      out.push_back(std::move(*s));
    }
    return out;
  };
  // The first rates need two samples: the first screen comes after a short one.
  for (Sample& s : take()) before[s.path] = std::move(s);
  sleep_ns(static_cast<std::int64_t>(std::min(a.delay_s, 0.5) * 1e9));
  for (int i = 0; (a.iterations == 0 || i < a.iterations) && g_stop == 0; ++i) {
    if (i != 0) sleep_ns(static_cast<std::int64_t>(a.delay_s * 1e9));
    if (g_stop != 0) break;
    std::vector<Sample> now_samples = take();
    const std::int64_t now = now_ns();
    const std::string text = a.output == "json"
                                 ? top_json(now_samples, before, now)
                                 : top_text(now_samples, before, now, a.utc, a.delay_s);
    if (terminal && a.iterations != 1) std::fputs("\033[H\033[2J", stdout);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    before.clear();
    for (Sample& s : now_samples) before[s.path] = std::move(s);
  }
  return 0;
}

std::string crash_telemetry_text(const Telemetry& t, std::int64_t crash_ns) {
  std::uint64_t logged = 0;
  for (const auto& th : t.threads) logged += th.logged;
  std::string out =
      fmt::format("--- the logger before the crash: {} records logged, {} lost", logged, t.lost());
  if (t.lost() != 0) out += fmt::format(" ({})", losses_text(t));
  if (const auto lag = archive_lag(t, crash_ns)) {
    out += fmt::format("; archive complete up to {} before it",
                       human_duration(static_cast<std::uint64_t>(*lag)));
  } else {
    out += "; none of it archived yet (all in the ring)";
  }
  if (t.breaker_open) {
    out += fmt::format("; THE DISK WAS FAILING: archiving paused ({} write errors, last: {})",
                       t.write_errors, std::strerror(t.last_errno));
  } else if (t.breaker_trips != 0) {
    out += fmt::format("; the disk failed earlier ({} times, last: {})", t.breaker_trips,
                       std::strerror(t.last_errno));
  }
  return out + "\n";
}

std::string crash_telemetry_json(const Telemetry& t, std::int64_t crash_ns) {
  std::uint64_t logged = 0;
  for (const auto& th : t.threads) logged += th.logged;
  const auto lag = archive_lag(t, crash_ns);
  return fmt::format(
      "{{\"logged\":{},\"lost\":{},\"archive_lag_s\":{},\"breaker\":{{\"open\":{},\"trips\":{},"
      "\"write_errors\":{},\"last_errno\":{}}}}}",
      logged, losses_json(t), lag ? fmt::format("{:.3f}", static_cast<double>(*lag) / 1e9) : "null",
      t.breaker_open ? "true" : "false", t.breaker_trips, t.write_errors, t.last_errno);
}

std::string histogram_summary(const blackbox::LogHistogram& h,
                              const std::function<std::string(std::uint64_t)>& value) {
  if (h.count() == 0) return "none yet";
  return fmt::format("{} measured, p50 {}, p90 {}, p99 {}, p99.9 {}, max {}", h.count(),
                     value(static_cast<std::uint64_t>(h.quantile(0.5))),
                     value(static_cast<std::uint64_t>(h.quantile(0.9))),
                     value(static_cast<std::uint64_t>(h.quantile(0.99))),
                     value(static_cast<std::uint64_t>(h.quantile(0.999))), value(h.max()));
}

std::vector<std::string> histogram_lines(std::string_view name, const blackbox::LogHistogram& h,
                                         const std::function<std::string(std::uint64_t)>& value) {
  std::vector<std::string> out{fmt::format("{}: {}", name, histogram_summary(h, value))};
  if (h.count() == 0) return out;
  std::uint64_t decades[20] = {};
  for (std::uint32_t b = 0; b < blackbox::log_bins::kCount; ++b) {
    if (h.bin(b) == 0) continue;
    const std::uint64_t low = blackbox::log_bins::lower(b);
    std::size_t d = 0;
    while (d + 1 < 20 && blackbox::log_bins::kPow10[d + 1] <= low) ++d;
    decades[d] += h.bin(b);
  }
  const std::uint64_t most = *std::max_element(std::begin(decades), std::end(decades));
  for (std::size_t d = 0; d < 20; ++d) {
    if (decades[d] == 0) continue;
    const auto width = static_cast<std::size_t>((decades[d] * 40 + most - 1) / most);
    out.push_back(fmt::format("  {:>8} .. {:<8} {:<40} {}", value(blackbox::log_bins::kPow10[d]),
                              d + 1 < 20 ? value(blackbox::log_bins::kPow10[d + 1]) : "",
                              std::string(width, '#'), decades[d]));
  }
  return out;
}

std::string ring_who(const RingInfo& info) {
  return fmt::format("pid {} ({}), {}", info.pid, info.app, state_name(info));
}

std::string telemetry_text(const std::string& who, const Telemetry& t,
                           const std::optional<LevelsState>& levels, std::int64_t now_ns,
                           bool utc) {
  std::string out;
  auto line = [&](const std::string& s) { out += s + "\n"; };
  line(fmt::format(
      "telemetry of {} - as of {}", who,
      t.updated_ns != 0 ? clock_text(t.updated_ns, utc, true) : "never (no flusher pass)"));
  std::uint64_t logged = 0;
  for (const auto& th : t.threads) logged += th.logged;
  line(fmt::format("  logged      {} records; the flusher read {} ({} bytes in the rings)", logged,
                   t.read.records, t.read.bytes));
  std::string per_level;
  for (std::size_t l = 0; l < t.per_level.size(); ++l) {
    if (t.per_level[l].records == 0) continue;
    per_level += fmt::format("{}{} {}", per_level.empty() ? "" : ", ", t.per_level[l].records,
                             blackbox::level_name(static_cast<blackbox::Level>(l)));
  }
  line(fmt::format("  per level   {}", per_level.empty() ? "-" : per_level));
  line(fmt::format("  lost        {} records (losses by cause, the failure budget):", t.lost()));
  out += budget_lines(t, utc, "    ");
  const auto lag = archive_lag(t, now_ns);
  line(fmt::format(
      "  archive     {} records in {} bytes (ratio {:.1f}), {} files created, {} "
      "deleted; {}",
      t.records_archived, t.archive_bytes_written, t.compression_ratio(), t.archive_files_created,
      t.archive_files_deleted,
      lag ? fmt::format("complete up to {} (lag {})", clock_text(t.archived_through_ns, utc, true),
                        human_duration(static_cast<std::uint64_t>(*lag)))
          : std::string("nothing archived")));
  if (t.archive_files_deleted_unshipped != 0) {  // a retention hold overruled by the ceiling
    line(
        fmt::format("  retention   {} files ({} bytes) deleted before a shipper had read them "
                    "(over retain_unshipped_bytes)",
                    t.archive_files_deleted_unshipped, t.archive_bytes_deleted_unshipped));
  }
  line(fmt::format(
      "  disk        breaker {}, {} trips, {} write errors{}",
      t.breaker_open ? "OPEN (archiving paused)" : "closed", t.breaker_trips, t.write_errors,
      t.last_errno != 0 ? fmt::format(" (last: {})", std::strerror(t.last_errno)) : ""));
  line(fmt::format("  flusher     {} passes; {} requests from outside applied", t.passes,
                   t.control_applied));
  if (t.producer_waits != 0 || t.producer_gave_up != 0) {  // Config::when_full = wait
    line(
        fmt::format("  waits       threads waited for the archive {} times, {} in all; {} "
                    "overwrote unarchived records after max_wait",
                    t.producer_waits, human_duration(t.producer_wait_ns), t.producer_gave_up));
  }
  if (levels) {
    line(fmt::format("  levels      {}", levels->spec));
    for (const auto& tl : levels->timed)
      line(fmt::format("              {}", timed_text(tl, now_ns, utc)));
  }
  if (!t.per_tag.empty()) {
    line("");
    line("  tag                                records        bytes");
    std::vector<Telemetry::Tag> tags = t.per_tag;
    std::stable_sort(tags.begin(), tags.end(), [](const auto& x, const auto& y) {
      return x.counts.records > y.counts.records;
    });
    for (const auto& tag : tags) {
      line(fmt::format("  {:<32} {:>9} {:>12}", tag.tag, tag.counts.records, tag.counts.bytes));
    }
  }
  if (!t.threads.empty()) {
    line("");
    line("  slot      tid  thread            logged      lost  last record");
    for (const auto& th : t.threads) {
      line(fmt::format(
          "  {:>4} {:>8}  {:<16} {:>8} {:>9}  {}{}", th.slot, th.tid, th.name, th.logged, th.lost,
          th.last_ns != 0 ? clock_text(th.last_ns, utc, true) : "-", th.live ? "" : " (exited)"));
    }
  }
  // The histograms: a bar per decade, with the quantiles read from the bins.
  auto histogram = [&](const char* name, const blackbox::LogHistogram& h) {
    line("");
    for (const std::string& l : histogram_lines(name, h, human_duration)) line("  " + l);
  };
  histogram("flusher pass time", t.pass_ns);
  histogram("archive write time", t.write_ns);
  return out;
}

}  // namespace logcat
