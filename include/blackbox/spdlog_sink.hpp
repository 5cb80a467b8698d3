// An spdlog sink that writes into blackbox: existing spdlog code, sync or async, gets crash
// survival, the compressed archive and logcat by adding one sink.
//
//   #include <blackbox/spdlog_sink.hpp>
//   auto sink = std::make_shared<blackbox::spdlog_sink_mt>();
//   spdlog::default_logger()->sinks().push_back(sink);     // or:
//   auto net = std::make_shared<spdlog::logger>("net", sink);
//   SPDLOG_LOGGER_INFO(net, "connected to {}", host);      // with its source location
//
// Each message becomes one record in the blackbox ring of the thread that calls the sink
// (for an async logger: spdlog's worker thread): spdlog's level mapped to ours (critical is
// fatal), the logger's name as the tag ("main" for the unnamed default logger), spdlog's source
// location as the call site (file, line, function; empty when the message has none), and the
// payload spdlog formatted as the message. spdlog's pattern does not apply: logcat renders records
// itself. blackbox's own levels (BBX_LEVEL, set_level) apply after spdlog's.
//
// Header-only: the blackbox library itself does not depend on spdlog; link spdlog as the
// program already does (target_link_libraries(app blackbox::blackbox spdlog::spdlog)).
// Neither sink takes a lock (writing into the ring is thread-safe without one): _mt and _st
// differ only in name, for code that expects both.
#pragma once

#include <spdlog/details/log_msg.h>
#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/sink.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "blackbox/blackbox.hpp"
#include "blackbox/detail/runtime_site.hpp"

namespace blackbox {

// spdlog's level as ours: trace, debug, info, warn, err -> error, critical -> fatal;
// off -> off (not logged).
[[nodiscard]] inline Level from_spdlog_level(spdlog::level::level_enum level) noexcept {
  switch (level) {
    case spdlog::level::trace:
      return Level::trace;
    case spdlog::level::debug:
      return Level::debug;
    case spdlog::level::info:
      return Level::info;
    case spdlog::level::warn:
      return Level::warn;
    case spdlog::level::err:
      return Level::error;
    case spdlog::level::critical:
      return Level::fatal;
    default:
      return Level::off;
  }
}

template <typename Mutex>
class spdlog_sink final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg& msg) override {
    const Level level = from_spdlog_level(msg.level);
    if (level == Level::off) return;
    detail::Site* site = find_site(msg, level);
    if (site != nullptr) {
      detail::log_text(*site, level, std::string_view(msg.payload.data(), msg.payload.size()));
    }
  }
  // Nothing to do: a record is in shared memory, safe from a crash, once log() returns
  // (blackbox::flush() waits for the archive, when that is wanted).
  void flush() override {}
  // blackbox renders records when they are read (logcat, the console): no pattern here.
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

 private:
  // The site of a message: a per-thread cache keyed by the logger name's and the source
  // location's addresses (string literals and the logger's own name), checked against the
  // site's tag; the registry (a lock) on a miss.
  static detail::Site* find_site(const spdlog::details::log_msg& msg, Level level) {
    struct Entry {
      const char* name = nullptr;
      const char* file = nullptr;
      const char* function = nullptr;
      int line = 0;
      Level level = Level::off;
      detail::Site* site = nullptr;
    };
    thread_local std::array<Entry, 256> cache{};
    // spdlog's default logger has no name: its records get the default tag.
    const std::string_view name =
        msg.logger_name.size() != 0
            ? std::string_view(msg.logger_name.data(), msg.logger_name.size())
            : std::string_view("main");
    const std::size_t hash =
        (std::hash<const void*>{}(name.data()) ^ std::hash<const void*>{}(msg.source.filename) ^
         (static_cast<std::size_t>(msg.source.line) * 31) ^ static_cast<std::size_t>(level)) %
        cache.size();
    Entry& e = cache[hash];
    if (e.site != nullptr && e.name == name.data() && e.file == msg.source.filename &&
        e.function == msg.source.funcname && e.line == msg.source.line && e.level == level &&
        name == e.site->info->tag) {
      return e.site;
    }
    const auto text = [](const char* s) { return s != nullptr ? std::string_view(s) : ""; };
    detail::Site* site =
        detail::runtime_site(name, level, text(msg.source.filename),
                             static_cast<std::uint32_t>(msg.source.line > 0 ? msg.source.line : 0),
                             text(msg.source.funcname));
    if (site != nullptr) {
      e = Entry{name.data(), msg.source.filename, msg.source.funcname, msg.source.line, level,
                site};
    }
    return site;
  }
};

using spdlog_sink_mt = spdlog_sink<std::mutex>;
using spdlog_sink_st = spdlog_sink<spdlog::details::null_mutex>;

}  // namespace blackbox
