// logcat: read archive files, archive directories and ring files, merge their records by
// time, filter (level, Android-style TAG:L filterspecs, time range, threads, trace id, regex
// on the message, last N) and print them as human text, JSON lines, logfmt or raw messages.
// Built on the public reader API only.
//
//   logcat [INPUT...] [TAG:L...] [-p PID] [-l LEVEL] [-e REGEX] [--since T] [--until T]
//          [--thread TID] [--trace ID] [-n N] [-o text|json|logfmt|raw] [--utc]
//          [--color auto|always|never]
//
// Exit status: 0 clean, 1 some input was damaged (everything readable was printed), 2 usage.
#include <errno.h>
#include <fmt/format.h>
#include <re2/re2.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "blackbox/config.hpp"
#include "blackbox/reader.hpp"

namespace {

using blackbox::Level;
using blackbox::Record;

// "TAG:L" filterspecs, Android style: the last spec for a tag wins; "*" is every other tag.
struct Filterspecs {
  std::map<std::string, Level, std::less<>> tags;
  std::optional<Level> any;
  bool parse(const std::string& spec) {
    const std::size_t colon = spec.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 2 != spec.size()) return false;
    // Letters as Android's logcat has them (V verbose = our trace, S silent); T is trace too.
    static constexpr std::string_view kLetters = "VDIWEFST";
    static constexpr Level kLevels[] = {Level::trace, Level::debug, Level::info, Level::warn,
                                        Level::error, Level::fatal, Level::off,  Level::trace};
    const std::size_t at = kLetters.find(spec[colon + 1]);
    if (at == std::string_view::npos) return false;
    const Level level = kLevels[at];
    const std::string tag = spec.substr(0, colon);
    if (tag == "*") {
      any = level;
    } else {
      tags[tag] = level;
    }
    return true;
  }
  bool empty() const { return tags.empty() && !any; }
  bool pass(std::string_view tag, Level level) const {
    const auto it = tags.find(tag);
    if (it != tags.end()) return level >= it->second && it->second != Level::off;
    if (any) return level >= *any && *any != Level::off;
    return true;
  }
};

bool is_ring_file(const std::string& path) {
  char magic[8] = {};
  std::ifstream in(path, std::ios::binary);
  in.read(magic, sizeof magic);
  return in.gcount() == 8 && std::memcmp(magic, "BBXRING", 8) == 0;
}

char level_letter(Level level) {
  static constexpr char letters[] = "TDIWEF?";
  const auto i = static_cast<std::size_t>(level);
  return i < 6 ? letters[i] : '?';
}

const char* level_colour(Level level) {
  switch (level) {
    case Level::trace:
    case Level::debug:
      return "\x1b[2m";
    case Level::warn:
      return "\x1b[33m";
    case Level::error:
    case Level::fatal:
      return "\x1b[1;31m";
    default:
      return "";
  }
}

std::string time_text(std::int64_t ns, bool utc, bool iso = false) {
  const std::time_t seconds = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  if (utc) {
    gmtime_r(&seconds, &tm);
  } else {
    localtime_r(&seconds, &tm);
  }
  char buf[32];
  std::strftime(buf, sizeof buf, iso ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
  return fmt::format("{}.{:06d}{}", buf, (ns / 1000) % 1'000'000, utc ? "Z" : "");
}

std::string trace_hex(const Record& r) {
  std::string out;
  for (const auto b : r.trace_id) out += fmt::format("{:02x}", b);
  return out;
}

// JSON string escaping (RFC 8259).
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1'000'000'000ll + ts.tv_nsec;
}

// "90s", "10m", "2h", "1d" (an age: now minus it), or ISO 8601 "2026-11-24T13:00:00" with an
// optional fraction and "Z" (UTC; without "Z", local time).
std::optional<std::int64_t> parse_time(const std::string& text, std::int64_t now) {
  if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0])) &&
      std::string_view("smhd").find(text.back()) != std::string_view::npos &&
      text.find_first_not_of("0123456789") == text.size() - 1) {
    const std::int64_t n = std::stoll(text.substr(0, text.size() - 1));
    const std::int64_t unit = text.back() == 's'   ? 1
                              : text.back() == 'm' ? 60
                              : text.back() == 'h' ? 3600
                                                   : 86400;
    return now - n * unit * 1'000'000'000;
  }
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) rest = strptime(text.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
  if (rest == nullptr) return std::nullopt;
  std::int64_t fraction_ns = 0;
  if (*rest == '.') {
    std::int64_t scale = 100'000'000;
    for (++rest; std::isdigit(static_cast<unsigned char>(*rest)); ++rest, scale /= 10) {
      fraction_ns += (*rest - '0') * scale;
    }
  }
  const bool utc = *rest == 'Z';
  if (utc) ++rest;
  if (*rest != '\0') return std::nullopt;
  tm.tm_isdst = -1;
  const std::time_t seconds = utc ? timegm(&tm) : mktime(&tm);
  if (seconds < 0 || seconds > 9'000'000'000) return std::nullopt;  // ns must fit in 64 bits
  return static_cast<std::int64_t>(seconds) * 1'000'000'000 + fraction_ns;
}

std::optional<std::array<std::uint8_t, 16>> parse_trace(const std::string& hex) {
  if (hex.size() != 32) return std::nullopt;
  std::array<std::uint8_t, 16> id{};
  for (std::size_t i = 0; i < 16; ++i) {
    unsigned v = 0;
    for (std::size_t k = 0; k < 2; ++k) {
      const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(hex[2 * i + k])));
      if (c >= '0' && c <= '9') {
        v = v * 16 + static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v = v * 16 + static_cast<unsigned>(c - 'a' + 10);
      } else {
        return std::nullopt;
      }
    }
    id[i] = static_cast<std::uint8_t>(v);
  }
  return id;
}

// logfmt: bare if it has no space, quote or '='; else quoted with escapes.
std::string logfmt_value(std::string_view s) {
  if (!s.empty() && s.find_first_of(" \"=\t\n\\") == std::string_view::npos) return std::string(s);
  return json_string(s);
}

std::string plain_value(const blackbox::Value& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return x;
        } else if constexpr (std::is_same_v<T, blackbox::Pointer>) {
          return fmt::format("{:#x}", x.address);
        } else {
          return fmt::format("{}", x);
        }
      },
      v);
}

// A field as JSON: numbers and booleans bare, everything else (and inf/nan) as a string.
std::string json_value(const blackbox::Value& v) {
  const std::string text = plain_value(v);
  const bool bare = std::holds_alternative<bool>(v) || std::holds_alternative<std::int64_t>(v) ||
                    std::holds_alternative<std::uint64_t>(v) ||
                    (std::holds_alternative<double>(v) && std::isfinite(std::get<double>(v)));
  return bare ? text : json_string(text);
}

// OpenTelemetry severity numbers: TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21.
int otel_severity(Level level) { return 1 + 4 * static_cast<int>(level); }

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);  // a closed pipe ends output quietly (EPIPE below)
  CLI::App app{
      "logcat: read blackbox archives and ring files.\n\n"
      "Inputs are archive files (*.bbx), archive directories and ring files (*.bbr); with none,\n"
      "the configured archive directory. Arguments of the form TAG:L are filterspecs (L one of\n"
      "V D I W E F S, S = silent; '*' is every tag), as in Android's logcat: `db:W *:S`.\n"
      "Exit status: 0 clean, 1 an input was damaged (everything readable was printed), 2 usage."};
  std::vector<std::string> args;
  std::string level_name = "trace", regex, output = "text", colour = "auto";
  bool utc = false;
  app.add_option("inputs", args, "inputs and TAG:L filterspecs");
  app.add_option("-l,--level", level_name,
                 "lowest level shown (trace debug info warn error fatal)");
  app.add_option("-e,--regex", regex, "only records whose message matches (RE2 syntax)");
  app.add_option("-o,--output", output,
                 "text, json (one object per line), logfmt or raw (message only)")
      ->check(CLI::IsMember({"text", "json", "logfmt", "raw"}));
  app.add_option("--color", colour, "auto (on a terminal, unless NO_COLOR), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  app.add_flag("--utc", utc, "times in UTC (default: local time)");
  std::string since, until, trace;
  std::vector<std::uint32_t> threads;
  std::size_t last_n = 0;
  int pid = 0;
  app.add_option("--since", since,
                 "only records at or after: ISO 8601 (2026-11-24T13:00:00[Z]) or an age (90s, "
                 "10m, 2h, 1d)");
  app.add_option("--until", until, "only records before (same forms as --since)");
  app.add_option("--thread", threads, "only these thread ids (repeatable)");
  app.add_option("--trace", trace,
                 "only records of this trace id (32 hex digits); archive chunks that cannot "
                 "hold it are skipped without decompressing");
  app.add_option("-n,--lines", last_n, "only the last N records (after filtering)");
  app.add_option("-p,--pid", pid, "the ring file of this process (in BBX_DIR)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  const auto min_level = blackbox::parse_level(level_name);
  if (!min_level) {
    std::fprintf(stderr, "logcat: unknown level \"%s\"\n", level_name.c_str());
    return 2;
  }
  std::unique_ptr<re2::RE2> pattern;
  if (!regex.empty()) {
    pattern = std::make_unique<re2::RE2>(regex, re2::RE2::Quiet);
    if (!pattern->ok()) {
      std::fprintf(stderr, "logcat: bad regex \"%s\": %s\n", regex.c_str(),
                   pattern->error().c_str());
      return 2;
    }
  }
  const std::int64_t now = now_ns();
  std::optional<std::int64_t> since_ns, until_ns;
  for (auto [text, out] : {std::pair{&since, &since_ns}, std::pair{&until, &until_ns}}) {
    if (text->empty()) continue;
    *out = parse_time(*text, now);
    if (!*out) {
      std::fprintf(stderr, "logcat: bad time \"%s\" (ISO 8601 or an age like 10m)\n",
                   text->c_str());
      return 2;
    }
  }
  std::optional<std::array<std::uint8_t, 16>> trace_id;
  if (!trace.empty()) {
    trace_id = parse_trace(trace);
    if (!trace_id) {
      std::fprintf(stderr, "logcat: bad trace id \"%s\" (32 hex digits)\n", trace.c_str());
      return 2;
    }
  }
  // An argument that names an existing path is an input; a TAG:L one is a filterspec.
  std::vector<std::string> inputs;
  Filterspecs specs;
  for (const auto& a : args) {
    struct stat st {};
    if (stat(a.c_str(), &st) == 0) {
      inputs.push_back(a);
    } else if (!specs.parse(a)) {
      std::fprintf(stderr, "logcat: %s: no such file, and not a TAG:L filterspec\n", a.c_str());
      return 2;
    }
  }
  if (pid != 0) {
    // The ring directory's file of that process: <app>.<pid>.bbr.
    const std::string dir = blackbox::Config::from_env().dir;
    const std::string suffix = "." + std::to_string(pid) + ".bbr";
    std::string found;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename();
      if (name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        found = e.path();
      }
    }
    if (found.empty()) {
      std::fprintf(stderr, "logcat: no ring file of pid %d in %s\n", pid, dir.c_str());
      return 2;
    }
    inputs.push_back(found);
  }
  if (inputs.empty()) inputs.push_back(blackbox::Config::from_env().archive_dir);

  // Read every input; merge by time (stable: a thread's order is kept on equal times).
  std::vector<Record> records;
  bool damaged = false;
  for (const auto& path : inputs) {
    std::string error;
    struct stat st {};
    const bool dir = stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    if (!dir && is_ring_file(path)) {
      auto reader = blackbox::RingReader::open(path, &error);
      if (!reader) {
        std::fprintf(stderr, "logcat: %s\n", error.c_str());
        damaged = true;
        continue;
      }
      auto got = reader->read_sorted();
      records.insert(records.end(), got.begin(), got.end());
      for (const auto& loss : reader->losses()) {
        if (loss.corrupt_bytes != 0) damaged = true;
      }
      continue;
    }
    auto reader = blackbox::ArchiveReader::open(path, &error);
    if (reader && trace_id) reader->set_trace_filter(trace_id);
    if (!reader) {
      std::fprintf(stderr, "logcat: %s\n", error.c_str());
      damaged = true;
      continue;
    }
    auto got = reader->read_sorted();
    records.insert(records.end(), got.begin(), got.end());
    for (const auto& d : reader->damage()) {
      std::fprintf(stderr, "logcat: %s: %llu bytes at offset %llu damaged: %s\n", d.file.c_str(),
                   static_cast<unsigned long long>(d.length),
                   static_cast<unsigned long long>(d.offset), d.reason.c_str());
      damaged = true;
    }
  }
  std::stable_sort(records.begin(), records.end(),
                   [](const Record& a, const Record& b) { return a.time_ns < b.time_ns; });

  const bool colours = colour == "always" || (colour == "auto" && isatty(STDOUT_FILENO) &&
                                              std::getenv("NO_COLOR") == nullptr);
  std::vector<const Record*> shown;
  for (const Record& r : records) {
    if (r.level < *min_level || !specs.pass(r.tag, r.level)) continue;
    if (since_ns && r.time_ns < *since_ns) continue;
    if (until_ns && r.time_ns >= *until_ns) continue;
    if (!threads.empty() && std::find(threads.begin(), threads.end(), r.tid) == threads.end()) {
      continue;
    }
    if (trace_id && (!r.has_trace || r.trace_id != *trace_id)) continue;
    if (pattern && !re2::RE2::PartialMatch(r.message, *pattern)) continue;
    shown.push_back(&r);
  }
  if (last_n != 0 && shown.size() > last_n) {
    shown.erase(shown.begin(), shown.end() - static_cast<std::ptrdiff_t>(last_n));
  }
  std::string line;
  for (const Record* record : shown) {
    const Record& r = *record;
    line.clear();
    if (output == "raw") {
      line = r.message;
    } else if (output == "logfmt") {
      line = fmt::format("time={} level={} tag={} tid={} msg={}", time_text(r.time_ns, true, true),
                         blackbox::level_name(r.level), logfmt_value(r.tag), r.tid,
                         logfmt_value(r.message));
      for (std::size_t i = 0; i < r.fields.size(); ++i) {
        const auto& f = r.fields[i];
        line += fmt::format(" {}={}", f.name.empty() ? "arg" + std::to_string(i) : f.name,
                            logfmt_value(plain_value(f.value)));
      }
      if (r.has_trace) line += " trace_id=" + trace_hex(r);
    } else if (output == "json") {
      line = fmt::format(
          "{{\"time\":{},\"severity\":{},\"severity_text\":{},\"tag\":{},"
          "\"tid\":{},\"thread\":{},\"message\":{}",
          json_string(time_text(r.time_ns, true, true)), otel_severity(r.level),
          json_string(to_upper(blackbox::level_name(r.level))), json_string(r.tag), r.tid,
          json_string(r.thread_name), json_string(r.message));
      line += ",\"fields\":{";
      bool first = true;
      for (std::size_t i = 0; i < r.fields.size(); ++i) {
        const auto& f = r.fields[i];
        const std::string key = f.name.empty() ? std::to_string(i) : f.name;
        line += fmt::format("{}{}:{}", first ? "" : ",", json_string(key), json_value(f.value));
        first = false;
      }
      line += "}";
      if (r.has_trace) line += ",\"trace_id\":" + json_string(trace_hex(r));
      line += fmt::format(",\"file\":{},\"line\":{}}}", json_string(r.file), r.line);
    } else {
      line = fmt::format("{} {}{}{} {:>7} {:<8} {}", time_text(r.time_ns, utc),
                         colours ? level_colour(r.level) : "", level_letter(r.level),
                         colours ? "\x1b[0m" : "", r.tid, r.tag, r.message);
      if (r.has_trace) line += " trace=" + trace_hex(r);
    }
    line += '\n';
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size()) {
      return errno == EPIPE ? 0 : 1;  // `| head` closed the pipe: not an error
    }
  }
  if (std::fflush(stdout) != 0 && errno == EPIPE) return 0;
  return damaged ? 1 : 0;
}
