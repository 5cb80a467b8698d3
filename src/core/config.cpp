// Config defaults, validation and the BBX_* environment variables; level spec parsing.
#include "blackbox/config.hpp"

#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "core/console.hpp"
#include "core/level_spec.hpp"
#include "core/rate_limit.hpp"
#include "crash/crash_handler.hpp"
#include "sys/dirs.hpp"
#include "sys/say.hpp"

namespace blackbox {
namespace {

bool is_power_of_two(std::uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// "12", "USR2", "SIGUSR2" (any case) -> the signal number; 0 if none.
int parse_signal(std::string_view text) {
  text = trim(text);
  if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0]))) {
    int n = 0;
    for (const char ch : text) {
      if (!std::isdigit(static_cast<unsigned char>(ch)) || n > 1000) return 0;
      n = n * 10 + (ch - '0');
    }
    return n < NSIG ? n : 0;
  }
  std::string upper;
  for (const char ch : text) upper.push_back(static_cast<char>(std::toupper(ch)));
  if (upper.rfind("SIG", 0) == 0) upper.erase(0, 3);
  for (int sig = 1; sig < NSIG; ++sig) {
    const char* name = sigabbrev_np(sig);
    if (name != nullptr && upper == name) return sig;
  }
  return 0;
}

}  // namespace

std::optional<Level> parse_level(std::string_view name) noexcept {
  char lower[16] = {};
  if (name.size() >= sizeof lower) return std::nullopt;
  for (std::size_t i = 0; i < name.size(); ++i) {
    lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
  }
  const std::string_view n(lower, name.size());
  if (n == "trace") return Level::trace;
  if (n == "debug") return Level::debug;
  if (n == "info") return Level::info;
  if (n == "warn" || n == "warning") return Level::warn;
  if (n == "error" || n == "err") return Level::error;
  if (n == "fatal" || n == "critical") return Level::fatal;
  if (n == "off" || n == "none") return Level::off;
  return std::nullopt;
}

std::string Config::default_dir() {
  const std::string uid = std::to_string(geteuid());
  const std::string shm = "/dev/shm/blackbox-" + uid;
  if (sys::foreign_dir(shm).empty()) return shm;
  // Squatted (another user created it first, for us to fall into an in-memory ring and lose
  // crash survival): a directory no one else can create, found the same way by every process
  // of the user whatever its environment, so logcat finds it too. The user's runtime
  // directory (tmpfs, 0700, made by logind), else the home directory's state (on disk).
  if (const std::string run = "/run/user/" + uid;
      sys::foreign_dir(run).empty() && access(run.c_str(), W_OK) == 0) {
    return run + "/blackbox";
  }
  if (const passwd* pw = getpwuid(geteuid());
      pw != nullptr && pw->pw_dir != nullptr && pw->pw_dir[0] == '/') {
    return std::string(pw->pw_dir) + "/.local/state/blackbox/rings";
  }
  return shm;  // nowhere else: refused when used, in-memory ring
}

std::string Config::default_archive_dir() {
  if (const char* state = std::getenv("XDG_STATE_HOME"); state != nullptr && *state == '/') {
    return std::string(state) + "/blackbox";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/') {
    return std::string(home) + "/.local/state/blackbox";
  }
  return "/var/tmp/blackbox-" + std::to_string(getuid());
}

namespace core {

std::string control_byte_error(std::string_view text, std::string_view what) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", byte);
      return std::string("a control character (") + hex + ") in the " + std::string(what);
    }
  }
  return {};
}

bool parse_level_spec(std::string_view spec, LevelSpec& out, std::string& error) {
  LevelSpec result;
  bool have_default = false;
  if (error = control_byte_error(spec, "level spec"); !error.empty()) return false;
  while (true) {
    const std::size_t comma = spec.find(',');
    const std::string_view part = trim(spec.substr(0, comma));
    if (!part.empty()) {
      const std::size_t eq = part.find('=');
      const std::string_view tag = eq == std::string_view::npos ? "" : trim(part.substr(0, eq));
      const std::string_view name = eq == std::string_view::npos ? part : trim(part.substr(eq + 1));
      if (eq != std::string_view::npos && tag.empty()) {
        error = "empty tag before '=' in \"" + std::string(part) + "\"";
        return false;
      }
      const auto level = parse_level(name);
      if (!level) {
        error = "unknown level \"" + std::string(name) +
                "\" (expected trace, debug, info, warn, error, fatal or off)";
        return false;
      }
      if (eq == std::string_view::npos) {
        if (have_default) {
          error = "more than one default level in \"" + std::string(spec) + "\"";
          return false;
        }
        have_default = true;
        result.default_level = *level;
      } else {
        result.tags.emplace_back(std::string(tag), *level);
      }
    }
    if (comma == std::string_view::npos) break;
    spec.remove_prefix(comma + 1);
  }
  out = std::move(result);
  return true;
}

bool parse_size(std::string_view text, std::uint64_t& out) {
  text = trim(text);
  if (text.empty()) return false;
  std::uint64_t value = 0;
  std::size_t i = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    const std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return false;
    value = value * 10 + digit;
  }
  if (i == 0) return false;
  std::string_view suffix = text.substr(i);
  if (suffix.size() == 3 && (suffix.substr(1) == "iB" || suffix.substr(1) == "ib")) {
    suffix = suffix.substr(0, 1);
  }
  unsigned shift = 0;
  if (suffix.empty())
    shift = 0;
  else if (suffix == "K" || suffix == "k")
    shift = 10;
  else if (suffix == "M" || suffix == "m")
    shift = 20;
  else if (suffix == "G" || suffix == "g")
    shift = 30;
  else
    return false;
  if (shift != 0 && value > (std::numeric_limits<std::uint64_t>::max() >> shift)) return false;
  out = value << shift;
  return true;
}

}  // namespace core

namespace {

// Sets one field of `c` back to its default (from_env(), for a value validate() refused).
template <auto Field>
void reset_field(Config& c) {
  c.*Field = Config().*Field;
}

}  // namespace

Config Config::from_env(std::vector<std::string>* warnings) {
  Config c;
  auto warn = [&](const char* var, const char* value, const std::string& why,
                  const std::string& kept) {
    std::string line = std::string(var) + "=\"" + value + "\": " + why + "; using " + kept;
    // Nobody asked for the warnings: a bad value must still not pass in silence.
    if (warnings != nullptr) {
      warnings->push_back(std::move(line));
    } else {
      sys::say(line);
    }
  };
  if (const char* v = std::getenv("BBX_DIR"); v != nullptr) {
    if (*v == '\0')
      warn("BBX_DIR", v, "empty directory name", "\"" + c.dir + "\"");
    else
      c.dir = v;
  }
  if (const char* v = std::getenv("BBX_APP"); v != nullptr) c.app = v;
  if (const char* v = std::getenv("BBX_HOST"); v != nullptr) c.host = v;
  if (const char* v = std::getenv("BBX_LEVEL"); v != nullptr) {
    core::LevelSpec spec;
    std::string error;
    if (core::parse_level_spec(v, spec, error))
      c.levels = v;
    else
      warn("BBX_LEVEL", v, error, "\"" + c.levels + "\"");
  }
  if (const char* v = std::getenv("BBX_LOSS_BUDGET"); v != nullptr) {
    if (const auto budget = core::parse_share(v); budget && *budget <= 1) {
      c.loss_budget = *budget;
    } else {
      warn("BBX_LOSS_BUDGET", v, "not a share of 0 .. 1 (\"0.1%\" or \"0.001\")",
           std::to_string(c.loss_budget));
    }
  }
  if (const char* v = std::getenv("BBX_RATE"); v != nullptr) {
    core::RateSpec spec;
    std::string error;
    if (core::parse_rate_spec(v, spec, error))
      c.rate_limits = v;
    else
      warn("BBX_RATE", v, error, "\"" + c.rate_limits + "\"");
  }
  if (const char* v = std::getenv("BBX_CONSOLE"); v != nullptr) {
    core::ConsoleSpec spec;
    std::string error;
    if (core::parse_console_spec(v, spec, error))
      c.console = v;
    else
      warn("BBX_CONSOLE", v, error, "\"" + c.console + "\"");
  }
  struct SizeVar {
    const char* name;
    std::uint64_t min, max;
    bool power_of_two;
  };
  auto size_var = [&](const SizeVar& var, auto& field) {
    const char* v = std::getenv(var.name);
    if (v == nullptr) return;
    std::uint64_t n = 0;
    const std::string kept = std::to_string(field);
    if (!core::parse_size(v, n)) {
      warn(var.name, v, "not a size (expected a number with optional K, M or G)", kept);
    } else if (n < var.min || n > var.max) {
      warn(var.name, v,
           "out of range " + std::to_string(var.min) + " .. " + std::to_string(var.max), kept);
    } else if (var.power_of_two && !is_power_of_two(n)) {
      warn(var.name, v, "not a power of two", kept);
    } else {
      field = static_cast<std::remove_reference_t<decltype(field)>>(n);
    }
  };
  size_var({"BBX_RING_BYTES", 64u << 10, 1u << 30, true}, c.ring_bytes);
  size_var({"BBX_MAX_THREADS", 1, 65536, false}, c.max_threads);
  size_var({"BBX_METRIC_CELLS", 512, 1u << 20, false}, c.metric_cells);
  c.metric_cells = (c.metric_cells + 511) / 512 * 512;  // whole pages per stripe
  size_var({"BBX_MAX_STRING", 16, c.block_bytes / 2, false}, c.max_string_bytes);
  if (const char* v = std::getenv("BBX_CRASH_HANDLERS"); v != nullptr) {
    if (std::string_view(v) == "0" || std::string_view(v) == "1") {
      c.crash_handlers = std::string_view(v) == "1";
    } else {
      warn("BBX_CRASH_HANDLERS", v, "expected 0 or 1", c.crash_handlers ? "1" : "0");
    }
  }
  if (const char* v = std::getenv("BBX_CRASH_DIR"); v != nullptr) c.crash_dir = v;
  if (const char* v = std::getenv("BBX_CAPTURE"); v != nullptr) {
    if (std::string_view(v) == "0" || std::string_view(v) == "1") {
      c.capture_stdio = std::string_view(v) == "1";
    } else {
      warn("BBX_CAPTURE", v, "expected 0 or 1", c.capture_stdio ? "1" : "0");
    }
  }
  if (const char* v = std::getenv("BBX_DUMP_SIGNAL"); v != nullptr) {
    if (const int sig = parse_signal(v); sig > 0) {
      c.dump_signal = sig;
    } else {
      warn("BBX_DUMP_SIGNAL", v, "expected a signal number or name such as USR2", "none");
    }
  }
  if (const char* v = std::getenv("BBX_ARCHIVE_DIR"); v != nullptr) {
    // Only "off" turns the archive off: an empty value is a mistake (an unset variable in a
    // unit file, say), not a wish to lose the history.
    if (*v == '\0') {
      warn("BBX_ARCHIVE_DIR", v, "empty (\"off\" turns the archive off)",
           "\"" + c.archive_dir + "\"");
    } else {
      c.archive_dir = std::string_view(v) == "off" ? "" : v;
    }
  }
  size_var({"BBX_FLUSH_MS", 10, 60000, false}, c.flush_interval_ms);
  {
    std::uint64_t ms = static_cast<std::uint64_t>(c.metrics_interval.count());
    size_var({"BBX_METRICS_MS", 0, 3'600'000, false}, ms);
    c.metrics_interval = std::chrono::milliseconds(ms);
  }
  size_var({"BBX_CONSOLE_MS", 5, 10000, false}, c.console_interval_ms);
  if (const char* v = std::getenv("BBX_WHEN_FULL"); v != nullptr) {
    if (std::string_view(v) == "overwrite" || std::string_view(v) == "wait") {
      c.when_full = std::string_view(v) == "wait" ? WhenFull::wait : WhenFull::overwrite;
    } else {
      warn("BBX_WHEN_FULL", v, "expected overwrite or wait",
           c.when_full == WhenFull::wait ? "wait" : "overwrite");
    }
  }
  {
    std::uint64_t ms = static_cast<std::uint64_t>(c.max_wait.count());
    size_var({"BBX_MAX_WAIT_MS", 1, 3'600'000, false}, ms);
    c.max_wait = std::chrono::milliseconds(ms);
  }
  if (const char* v = std::getenv("BBX_ZSTD_LEVEL"); v != nullptr) {
    char* end = nullptr;
    const long level = std::strtol(v, &end, 10);
    if (end == v || *end != '\0' || level < -7 || level > 19) {
      warn("BBX_ZSTD_LEVEL", v, "expected an integer -7 .. 19", std::to_string(c.zstd_level));
    } else {
      c.zstd_level = static_cast<int>(level);
    }
  }
  size_var({"BBX_ROTATE_BYTES", 64u << 10, 4ull << 30, false}, c.rotate_bytes);
  size_var({"BBX_ROTATE_SECONDS", 1, 604800, false}, c.rotate_seconds);
  size_var({"BBX_RETAIN_BYTES", 0, ~0ull >> 1, false}, c.retain_bytes);
  size_var({"BBX_RETAIN_SECONDS", 0, 0xFFFF'FFFFu, false}, c.retain_seconds);
  size_var({"BBX_RETAIN_UNSHIPPED_BYTES", 0, ~0ull >> 1, false}, c.retain_unshipped_bytes);
  // Then the one list of rules, validate(), as init() applies it: a field the environment
  // made invalid (a value in range for its variable but not for the logger: a crash signal
  // as the dump signal, 1 ms of metrics interval, a host name with control characters) is
  // said and set back to its default. So the lazy start (the first log call, no init())
  // and init(Config::from_env()) start from the same checked configuration.
  struct EnvField {
    const char* name;  // as validate() names it
    const char* var;
    void (*reset)(Config& c);
  };
  static constexpr EnvField kFields[] = {
      {"dir", "BBX_DIR", reset_field<&Config::dir>},
      {"host", "BBX_HOST", reset_field<&Config::host>},
      {"levels", "BBX_LEVEL", reset_field<&Config::levels>},
      {"loss_budget", "BBX_LOSS_BUDGET", reset_field<&Config::loss_budget>},
      {"rate_limits", "BBX_RATE", reset_field<&Config::rate_limits>},
      {"ring_bytes", "BBX_RING_BYTES", reset_field<&Config::ring_bytes>},
      // The block size has no variable; the ring's size decides whether it fits.
      {"block_bytes", "BBX_RING_BYTES", reset_field<&Config::ring_bytes>},
      {"max_threads", "BBX_MAX_THREADS", reset_field<&Config::max_threads>},
      {"metric_cells", "BBX_METRIC_CELLS", reset_field<&Config::metric_cells>},
      {"max_string_bytes", "BBX_MAX_STRING", reset_field<&Config::max_string_bytes>},
      {"metrics_interval", "BBX_METRICS_MS", reset_field<&Config::metrics_interval>},
      {"when_full", "BBX_WHEN_FULL", reset_field<&Config::when_full>},
      {"max_wait", "BBX_MAX_WAIT_MS", reset_field<&Config::max_wait>},
      {"flush_interval_ms", "BBX_FLUSH_MS", reset_field<&Config::flush_interval_ms>},
      {"console", "BBX_CONSOLE", reset_field<&Config::console>},
      {"console_interval_ms", "BBX_CONSOLE_MS", reset_field<&Config::console_interval_ms>},
      {"zstd_level", "BBX_ZSTD_LEVEL", reset_field<&Config::zstd_level>},
      {"rotate_bytes", "BBX_ROTATE_BYTES", reset_field<&Config::rotate_bytes>},
      {"dump_signal", "BBX_DUMP_SIGNAL", reset_field<&Config::dump_signal>},
      {"rotate_seconds", "BBX_ROTATE_SECONDS", reset_field<&Config::rotate_seconds>},
  };
  // A reset can make a field that depends on it valid (block_bytes on ring_bytes): a few
  // rounds at most, each resetting at least one field.
  for (int round = 0; round < 4; ++round) {
    const std::vector<std::string> errors = c.validate();
    if (errors.empty()) break;
    for (const std::string& e : errors) {
      const std::string_view name = std::string_view(e).substr(0, e.find(':'));
      for (const EnvField& f : kFields) {
        if (name != f.name) continue;
        const char* value = std::getenv(f.var);
        f.reset(c);
        std::string line = std::string(f.var) + "=\"" + (value != nullptr ? value : "") +
                           "\": " + e + "; using the default";
        if (warnings != nullptr) {
          warnings->push_back(std::move(line));
        } else {
          sys::say(line);
        }
      }
    }
  }
  return c;
}

std::vector<std::string> Config::validate() const {
  std::vector<std::string> errors;
  if (dir.empty()) errors.emplace_back("dir: empty");
  if (host.size() > 63 || !core::control_byte_error(host, "host").empty()) {
    errors.emplace_back("host: at most 63 bytes, no control characters");
  }
  core::LevelSpec spec;
  std::string error;
  if (!core::parse_level_spec(levels, spec, error)) errors.push_back("levels: " + error);
  if (!(loss_budget >= 0 && loss_budget <= 1)) {
    errors.emplace_back("loss_budget: must be 0 .. 1 (a share: 0.001 is 0.1 %), got " +
                        std::to_string(loss_budget));
  }
  if (core::RateSpec rates; !core::parse_rate_spec(rate_limits, rates, error)) {
    errors.push_back("rate_limits: " + error);
  }
  if (!is_power_of_two(ring_bytes) || ring_bytes < (64u << 10) || ring_bytes > (1u << 30)) {
    errors.emplace_back("ring_bytes: must be a power of two in 64 KiB .. 1 GiB, got " +
                        std::to_string(ring_bytes));
  }
  if (!is_power_of_two(block_bytes) || block_bytes < 4096 || block_bytes > ring_bytes / 4) {
    errors.emplace_back("block_bytes: must be a power of two in 4 KiB .. ring_bytes / 4, got " +
                        std::to_string(block_bytes));
  }
  if (max_threads < 1 || max_threads > 65536) {
    errors.emplace_back("max_threads: must be 1 .. 65536, got " + std::to_string(max_threads));
  }
  if (metric_cells < 512 || metric_cells > (1u << 20) || metric_cells % 512 != 0) {
    errors.emplace_back("metric_cells: must be a multiple of 512 in 512 .. 1048576, got " +
                        std::to_string(metric_cells));
  }
  if (site_table_bytes < (64u << 10) || site_table_bytes > (256u << 20)) {
    errors.emplace_back("site_table_bytes: must be 64 KiB .. 256 MiB, got " +
                        std::to_string(site_table_bytes));
  }
  if (max_string_bytes < 16 || max_string_bytes > block_bytes / 2) {
    errors.emplace_back("max_string_bytes: must be 16 .. block_bytes / 2, got " +
                        std::to_string(max_string_bytes));
  }
  if (metrics_interval.count() != 0 &&
      (metrics_interval.count() < 100 || metrics_interval.count() > 3'600'000)) {
    errors.emplace_back("metrics_interval: must be 0 or 100 ms .. 1 h, got " +
                        std::to_string(metrics_interval.count()) + " ms");
  }
  if (when_full != WhenFull::overwrite && when_full != WhenFull::wait) {
    errors.emplace_back("when_full: must be WhenFull::overwrite or WhenFull::wait, got " +
                        std::to_string(static_cast<int>(when_full)));
  }
  if (max_wait.count() < 1 || max_wait.count() > 3'600'000) {
    errors.emplace_back("max_wait: must be 1 ms .. 1 h, got " + std::to_string(max_wait.count()) +
                        " ms");
  }
  if (flush_interval_ms < 10 || flush_interval_ms > 60000) {
    errors.emplace_back("flush_interval_ms: must be 10 .. 60000, got " +
                        std::to_string(flush_interval_ms));
  }
  core::ConsoleSpec console_spec;
  if (!core::parse_console_spec(console, console_spec, error))
    errors.push_back("console: " + error);
  if (console_interval_ms < 5 || console_interval_ms > 10000) {
    errors.emplace_back("console_interval_ms: must be 5 .. 10000, got " +
                        std::to_string(console_interval_ms));
  }
  if (zstd_level < -7 || zstd_level > 19) {
    errors.emplace_back("zstd_level: must be -7 .. 19, got " + std::to_string(zstd_level));
  }
  if (rotate_bytes < (64u << 10) || rotate_bytes > (4ull << 30)) {
    errors.emplace_back("rotate_bytes: must be 64 KiB .. 4 GiB, got " +
                        std::to_string(rotate_bytes));
  }
  if (dump_signal != 0 && (dump_signal < 1 || dump_signal >= NSIG || dump_signal == SIGKILL ||
                           dump_signal == SIGSTOP || crash::is_reserved_signal(dump_signal))) {
    errors.emplace_back(
        "dump_signal: must be 0 or a signal other than KILL, STOP, the crash signals (SEGV, "
        "BUS, ILL, FPE, ABRT) and ALRM (the crash handler's watchdog), got " +
        std::to_string(dump_signal));
  }
  if (rotate_seconds < 1 || rotate_seconds > 604800) {
    errors.emplace_back("rotate_seconds: must be 1 .. 604800, got " +
                        std::to_string(rotate_seconds));
  }
  return errors;
}

}  // namespace blackbox
