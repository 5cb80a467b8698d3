// The process's side of the control area. See control.hpp and format/control_area.hpp.
//
// Memory ordering: requests_written acquire (the requester filled the slot before its
// release store); a request's status, then requests_done release (the requester reads the
// result after its acquire load of requests_done). levels_seq: the seqlock writer protocol
// (odd, release fence, data, even with release).
#include "core/control.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string_view>

#include "archive/flusher.hpp"
#include "blackbox/blackbox.hpp"
#include "core/audit.hpp"
#include "core/logger.hpp"
#include "crash/dump.hpp"
#include "sys/clock.hpp"
#include "sys/process.hpp"

namespace blackbox::core {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

using ring::set_field;

// A tag an operator may name: what a level spec can carry (no ',' '=' or spaces) and fits.
bool usable_tag(std::string_view tag) {
  if (tag.empty() || tag.size() >= ring::kControlTagBytes) return false;
  return std::all_of(tag.begin(), tag.end(),
                     [](char c) { return c > ' ' && c < 127 && c != ',' && c != '='; });
}

Level own_level(const LevelSpec& spec, std::string_view tag, bool& has_own) {
  for (auto it = spec.tags.rbegin(); it != spec.tags.rend(); ++it) {
    if (it->first == tag) {
      has_own = true;
      return it->second;
    }
  }
  has_own = false;
  return spec.default_level;
}

void set_own_level(LevelSpec& spec, std::string_view tag, Level level) {
  std::erase_if(spec.tags, [tag](const auto& entry) { return entry.first == tag; });
  spec.tags.emplace_back(std::string(tag), level);
}

struct Who {
  std::int32_t pid;
  std::uint32_t uid;
};

// What this process can check of a requester whose pid and uid are only what it wrote: only
// its own user and root can write the ring file (0600); the pid's uid as the kernel says,
// while that process lives (a requester that exited at once cannot be checked).
std::string verified(const Who& who) {
  const std::string writers =
      fmt::format("only uid {} and root can write the ring file", geteuid());
  const std::optional<sys::ProcessIdentity> id = sys::process_identity(who.pid);
  if (!id) return fmt::format("pid {} is gone, unchecked; {}", who.pid, writers);
  if (id->uid == who.uid)
    return fmt::format("checked: pid {} runs as uid {}; {}", who.pid, id->uid, writers);
  return fmt::format("NOT as claimed: pid {} runs as uid {}; {}", who.pid, id->uid, writers);
}

// A level request. Returns "" or why it was refused; `done` says what it did.
std::string apply_level(const ring::ControlRequest& r, std::int64_t now_ns, std::string& done) {
  const bool whole = r.default_level != 0;
  const std::string tag(ring::field_text(r.tag));
  if (r.level > static_cast<std::uint8_t>(Level::off)) return "no such level";
  if (!whole && !usable_tag(tag))
    return fmt::format("not a tag a level spec can name: \"{}\"", tag);
  if (r.for_ns < 0 || r.for_ns > std::int64_t{366} * 24 * 3600 * 1'000'000'000) {
    return "--for out of range";
  }
  const auto level = static_cast<Level>(r.level);
  const Who who{r.pid, r.uid};
  const std::string what = whole ? std::string("default level") : fmt::format("level of {}", tag);
  return change_levels([&](LevelSpec& spec, std::vector<ring::TimedLevel>& timed) -> std::string {
    auto same = [&](const ring::TimedLevel& t) {
      return (t.default_level != 0) == whole && (whole || ring::field_text(t.tag) == tag);
    };
    auto existing = std::find_if(timed.begin(), timed.end(), same);
    bool has_own = whole;
    const Level before = whole ? spec.default_level : own_level(spec, tag, has_own);
    if (r.for_ns > 0) {
      if (existing == timed.end()) {
        if (timed.size() >= ring::kTimedLevels) {
          return fmt::format("already {} levels set for a while", ring::kTimedLevels);
        }
        ring::TimedLevel t{};
        t.back_level = static_cast<std::uint8_t>(before);
        t.had_own = has_own ? 1 : 0;
        t.default_level = whole ? 1 : 0;
        set_field(t.tag, tag);
        existing = timed.insert(timed.end(), t);
      }
      // A second request for the same tag extends it; it still reverts to the first's level.
      existing->until_ns = now_ns + r.for_ns;
      existing->pid = who.pid;
      existing->uid = who.uid;
      existing->level = static_cast<std::uint8_t>(level);
    } else if (existing != timed.end()) {
      timed.erase(existing);  // set for good now
    }
    if (whole) {
      spec.default_level = level;
    } else {
      set_own_level(spec, tag, level);
    }
    done = fmt::format(
        "{} set to {}{}", what, level_name(level),
        r.for_ns > 0 ? fmt::format(" for {}", short_duration(r.for_ns)) : std::string());
    return {};
  });
}

// Levels set for a while whose time is up go back, unless the program changed them since.
// Returns how many are still set for a while.
std::size_t expire_timed(std::int64_t now_ns) {
  std::size_t left = 0;
  struct Expired {
    std::string what, back;
    bool reverted;
    Who who;
  };
  std::vector<Expired> expired;
  (void)change_levels([&](LevelSpec& spec, std::vector<ring::TimedLevel>& timed) -> std::string {
    for (auto it = timed.begin(); it != timed.end();) {
      if (it->until_ns > now_ns) {
        ++it;
        continue;
      }
      const bool whole = it->default_level != 0;
      const std::string tag(ring::field_text(it->tag));
      bool has_own = whole;
      const Level now_level = whole ? spec.default_level : own_level(spec, tag, has_own);
      const bool still = has_own && static_cast<std::uint8_t>(now_level) == it->level;
      const auto back = static_cast<Level>(it->back_level);
      if (still) {
        if (whole) {
          spec.default_level = back;
        } else if (it->had_own != 0) {
          set_own_level(spec, tag, back);
        } else {
          std::erase_if(spec.tags, [&](const auto& e) { return e.first == tag; });
        }
      }
      expired.push_back({whole ? std::string("default level") : fmt::format("level of {}", tag),
                         still && !whole && it->had_own == 0
                             ? fmt::format("the default ({})", level_name(spec.default_level))
                             : std::string(level_name(back)),
                         still,
                         {it->pid, it->uid}});
      it = timed.erase(it);
    }
    left = timed.size();
    return {};
  });
  for (const Expired& e : expired) {
    if (e.reverted) {
      BBX_INTERNAL_AUDIT(
          "{what} back to {level}: the time set from outside by pid {pid} uid {uid} (as claimed) "
          "is up",
          e.what, e.back, e.who.pid, e.who.uid);
    } else {
      BBX_INTERNAL_AUDIT(
          "{what} left as it is: the time set from outside by pid {pid} uid {uid} (as claimed) is "
          "up, "
          "but it was changed since",
          e.what, e.who.pid, e.who.uid);
    }
  }
  return left;
}

}  // namespace

std::string level_spec_text(const LevelSpec& spec) {
  std::string out(level_name(spec.default_level));
  for (std::size_t i = 0; i < spec.tags.size(); ++i) {
    const std::string& tag =
        spec.tags[i].first;  // (no structured binding: clang 14 cannot capture one)
    const Level level = spec.tags[i].second;
    const bool overridden =
        std::any_of(spec.tags.begin() + static_cast<std::ptrdiff_t>(i) + 1, spec.tags.end(),
                    [&](const auto& later) { return later.first == tag; });
    if (!overridden) out += fmt::format(",{}={}", tag, level_name(level));
  }
  return out;
}

void publish_levels(ring::ControlArea& control, const LevelSpec& spec,
                    const std::vector<ring::TimedLevel>& timed) noexcept {
  std::string text;
  try {
    text = level_spec_text(spec);
  } catch (...) {
    return;
  }
  if (text.size() >= ring::kControlLevelsBytes) {
    text.resize(ring::kControlLevelsBytes - 4);
    text += "...";
  }
  const std::uint64_t seq = control.levels_seq.load(kRelaxed);
  control.levels_seq.store(seq + 1, kRelaxed);  // odd: being written
  std::atomic_thread_fence(std::memory_order_release);
  set_field(control.levels, text);
  for (std::uint32_t i = 0; i < ring::kTimedLevels; ++i) {
    control.timed[i] = i < timed.size() ? timed[i] : ring::TimedLevel{};
  }
  control.levels_seq.store(seq + 2, std::memory_order_release);
}

std::string short_duration(std::int64_t ns) {
  if (ns < 1'000'000'000) return fmt::format("{}ms", ns / 1'000'000);
  std::int64_t s = ns / 1'000'000'000;
  std::string out;
  if (s >= 86400) out += fmt::format("{}d", s / 86400), s %= 86400;
  if (s >= 3600) out += fmt::format("{}h", s / 3600), s %= 3600;
  if (s >= 60) out += fmt::format("{}m", s / 60), s %= 60;
  if (s != 0 || out.empty()) out += fmt::format("{}s", s);
  return out;
}

unsigned ControlServer::serve(ring::RingMemory& ring) {
  ring::ControlArea* control = ring.control();
  if (control == nullptr) return 0;
  unsigned flags = 0;
  const std::int64_t now = sys::realtime_ns();
  if (!started_) {
    served_ = control->requests_done.load(kRelaxed);  // only we store it
    started_ = true;
  }
  std::uint64_t done = served_;
  const std::uint64_t written = control->requests_written.load(std::memory_order_acquire);
  // A requester takes a slot only while fewer than kControlRequests wait; more than that
  // is damage (or a requester ignoring the protocol): the oldest are skipped.
  if (written - done > ring::kControlRequests) done = written - ring::kControlRequests;
  for (; done < written; ++done) {
    ring::ControlRequest& r = control->requests[done % ring::kControlRequests];
    std::string done_text, refused;
    const Who who{r.pid, r.uid};
    if (r.number != done) {
      refused = "request slot out of order";
    } else {
      switch (static_cast<ring::ControlKind>(r.kind)) {
        case ring::ControlKind::level:
          refused = apply_level(r, now, done_text);
          timed_levels_ = timed_levels_ || (refused.empty() && r.for_ns > 0);
          break;
        case ring::ControlKind::flush:
          if (!context_.archive) refused = "no archive (archive_dir is off): nothing to flush";
          flags |= archive::FlusherSettings::kPassWriteNow;
          done_text = "flush";
          break;
        case ring::ControlKind::rotate:
          if (!context_.archive) refused = "no archive (archive_dir is off): nothing to rotate";
          flags |= archive::FlusherSettings::kPassWriteNow | archive::FlusherSettings::kPassRotate;
          done_text = "rotation";
          break;
        case ring::ControlKind::dump: {
          const std::string path(ring::field_text(r.path));
          if (!path.empty() && path.front() != '/') {
            refused = "the dump's path must be absolute";
          } else if (path.empty()) {
            std::string error;
            const std::string written_to =
                crash::dump_to_dir(ring, context_.dump_dir, context_.app, error);
            if (written_to.empty()) refused = error;
            done_text = fmt::format("dump written to {}", written_to);
          } else {
            // A new file only, never in the ring or archive directory, never a FIFO: the
            // path is the requester's input (crash::DumpPathRules).
            crash::DumpPathRules rules;
            rules.forbidden_dirs = context_.forbidden_dump_dirs;
            rules.app = context_.app;
            std::string dump_file;
            refused = crash::dump_to_path(ring, path, rules, &dump_file);
            done_text = fmt::format("dump written to {}", dump_file);
          }
          break;
        }
        case ring::ControlKind::rate: {
          const std::string spec(ring::field_text(r.path));
          refused = set_rate_limits(spec);
          done_text = spec.empty() ? std::string("rate limits removed")
                                   : fmt::format("rate limits set to {}", spec);
          break;
        }
        case ring::ControlKind::rates: {
          const std::string spec = rate_limits();
          done_text =
              spec.empty() ? std::string("no rate limits") : fmt::format("rate limits: {}", spec);
          break;
        }
        default:
          refused = fmt::format("unknown request kind {}", r.kind);
      }
    }
    if (refused.empty()) {
      BBX_INTERNAL_AUDIT("{what} from outside, by pid {pid} uid {uid} as claimed ({verified})",
                         done_text, who.pid, who.uid, verified(who));
      set_field(r.result, done_text);
      r.status.store(static_cast<std::uint32_t>(ring::ControlStatus::done), kRelaxed);
      if (ring::Telemetry* t = ring.telemetry(); t != nullptr) {
        t->control_applied.store(t->control_applied.load(kRelaxed) + 1, kRelaxed);
      }
    } else {
      BBX_INTERNAL_AUDIT(
          "request from outside refused: {why}, by pid {pid} uid {uid} as claimed ({verified})",
          refused, who.pid, who.uid, verified(who));
      set_field(r.result, refused);
      r.status.store(static_cast<std::uint32_t>(ring::ControlStatus::refused), kRelaxed);
    }
    if (refused.empty() && (r.kind == static_cast<std::uint32_t>(ring::ControlKind::flush) ||
                            r.kind == static_cast<std::uint32_t>(ring::ControlKind::rotate))) {
      awaiting_pass_.push_back(done);
    }
  }
  served_ = done;
  // A flush or rotation is answered once the pass has done it (after_pass): the requester
  // then finds it in the archive. Everything else now.
  if (awaiting_pass_.empty()) control->requests_done.store(served_, std::memory_order_release);
  // Timed levels come only from requests: no mutex taken on the passes between them.
  if (timed_levels_) timed_levels_ = expire_timed(now) != 0;
  return flags;
}

void ControlServer::after_pass(ring::RingMemory& ring, bool ok) {
  ring::ControlArea* control = ring.control();
  if (control == nullptr || awaiting_pass_.empty()) return;
  if (!ok) {
    for (const std::uint64_t n : awaiting_pass_) {
      ring::ControlRequest& r = control->requests[n % ring::kControlRequests];
      set_field(r.result, "the archive could not be written (see the telemetry: disk breaker)");
      r.status.store(static_cast<std::uint32_t>(ring::ControlStatus::refused), kRelaxed);
    }
  }
  awaiting_pass_.clear();
  control->requests_done.store(served_, std::memory_order_release);
}

}  // namespace blackbox::core
