#include "archive/recovery.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "archive/flusher.hpp"
#include "format/ring_layout.hpp"
#include "ring/ring_memory.hpp"
#include "sys/calendar.hpp"

namespace blackbox::archive {
namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// `<app>.<pid>.bbr` or, set aside after pid reuse, `<app>.<pid>.old-<ns>.bbr`.
bool is_ring_of(std::string_view name, std::string_view app) {
  constexpr std::string_view kSuffix = ".bbr";
  if (name.size() <= kSuffix.size() || name.substr(name.size() - kSuffix.size()) != kSuffix) {
    return false;
  }
  if (app.empty()) return true;
  if (name.size() <= app.size() + 1 || name.substr(0, app.size()) != app ||
      name[app.size()] != '.') {
    return false;
  }
  std::string_view rest = name.substr(app.size() + 1, name.size() - app.size() - 1 - 4);
  const std::size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return all_digits(rest);
  return all_digits(rest.substr(0, dot)) && rest.substr(dot, 5) == ".old-" &&
         all_digits(rest.substr(dot + 5));
}

}  // namespace

Recovered recover_ring(const std::string& ring_path, FileSettings files, int zstd_level) {
  Recovered r;
  r.ring_path = ring_path;
  using DeadRing = ring::RingMemory::DeadRing;
  DeadRing why = DeadRing::unusable;
  std::unique_ptr<ring::RingMemory> ring(ring::RingMemory::open_dead(ring_path, &r.error, &why));
  if (ring == nullptr) {
    r.outcome = why == DeadRing::alive      ? Recovered::Outcome::alive
                : why == DeadRing::not_ours ? Recovered::Outcome::not_ours
                                            : Recovered::Outcome::failed;
    if (why == DeadRing::unusable) {
      // Ours, but not a ring we can read (damaged, truncated, unreadable): kept for whoever
      // wants to look, under a name recovery does not take again, so it is reported once
      // rather than at every start.
      const std::string aside = ring_path + ".unreadable";
      if (rename(ring_path.c_str(), aside.c_str()) == 0) r.error += "; kept as " + aside;
    }
    return r;
  }
  const ring::RingHeader& h = ring->header();
  r.app.assign(h.app, strnlen(h.app, sizeof h.app));
  r.pid = h.pid;
  const auto state = static_cast<ring::ProcessState>(h.state.load(std::memory_order_relaxed));
  // Exited: archived, left alone; unless its final flush failed (ring_layout.hpp).
  const bool exited = state == ring::ProcessState::exited;
  if (exited &&
      (h.exit_flags.load(std::memory_order_relaxed) & ring::kExitArchiveIncomplete) == 0) {
    r.outcome = Recovered::Outcome::exited;
    return r;
  }
  files.app = ring::sanitize_app(r.app);
  files.pid = h.pid;
  FlusherSettings settings;
  settings.files = std::move(files);
  settings.zstd_level = zstd_level;
  Flusher flusher(*ring, std::move(settings));
  flusher.resume_from_archived();
  const auto* report = ring->base() + ring::kCrashOffset;
  if (state == ring::ProcessState::crashed &&
      std::memcmp(report, ring::kCrashMagic, sizeof ring::kCrashMagic) == 0) {
    ring::CrashReport crash;
    std::memcpy(&crash, report, sizeof crash);
    r.signal = crash.signal;
    // The report and the modules after it: the rest of the header page.
    flusher.add_frame(
        FrameType::crash,
        std::vector<std::byte>(report, report + (ring::kPageBytes - ring::kCrashOffset)));
  } else if (exited) {
    r.exited_unarchived = true;
    // It shut down, but its archive could not take the last records: they follow now.
    flusher.add_frame(FrameType::end, end_payload(EndHow::exited, 0));
  } else {
    // Dead without a report and without shutting down: killed (SIGKILL, the OOM killer),
    // or _exit() past the logger. When is not known; the last record's time is the best.
    flusher.add_frame(FrameType::end, end_payload(EndHow::killed, 0));
  }
  // Its telemetry as it left it: what it had lost, how far behind its archive was.
  if (std::vector<std::byte> m = flusher.metrics_payload(SnapshotReason::recovered); !m.empty()) {
    flusher.add_frame(FrameType::metrics, std::move(m));  // its metrics, as it left them
  }
  if (std::vector<std::byte> t = flusher.telemetry_payload(SnapshotReason::recovered); !t.empty()) {
    flusher.add_frame(FrameType::telemetry, std::move(t));
  }
  const bool ok = flusher.drain_once();
  Stats stats;
  flusher.add_stats(stats);
  r.records = stats.records_archived;
  r.lost = stats.lost_overwritten + stats.lost_corrupt;
  r.archive_path = flusher.current_file();
  if (!ok) {
    // Whatever did get written must not be written again by the next recovery.
    ring->write_back_slot_headers();
    r.error =
        "cannot write the archive file in " + flusher.settings().files.dir +
        (stats.last_write_errno != 0 ? std::string(": ") + sys::error_text(stats.last_write_errno)
                                     : std::string());
    return r;
  }
  ring->remove_file();
  r.outcome = Recovered::Outcome::recovered;
  return r;
}

std::vector<Recovered> recover_dead_rings(const std::string& ring_dir, const std::string& app,
                                          const FileSettings& files, int zstd_level) {
  std::vector<std::string> names;
  if (DIR* dir = opendir(ring_dir.c_str()); dir != nullptr) {
    while (const dirent* e = readdir(dir)) {
      if (!is_ring_of(e->d_name, app)) continue;
      // Other users' files are not ours to recover, report or delete: passed over quietly
      // (open_dead() checks the file it opens again).
      struct stat st {};
      if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_uid != geteuid()) {
        continue;
      }
      names.emplace_back(e->d_name);
    }
    closedir(dir);
  }
  std::sort(names.begin(), names.end());
  std::vector<Recovered> out;
  for (const std::string& name : names) {
    out.push_back(recover_ring(ring_dir + "/" + name, files, zstd_level));
  }
  return out;
}

}  // namespace blackbox::archive

namespace blackbox {

std::string RecoveredRing::describe() const {
  const RecoveredRing& r = *this;
  const std::string who = r.app + " (pid " + std::to_string(r.pid) + ")";
  switch (r.outcome) {
    case Outcome::recovered: {
      const char* abbrev = r.signal != 0 ? sigabbrev_np(r.signal) : nullptr;
      const std::string how = r.exited_unarchived ? "exited before its archive could take them"
                              : r.signal == 0     ? "died"
                              : abbrev != nullptr ? std::string("crashed: SIG") + abbrev
                                                  : "crashed: signal " + std::to_string(r.signal);
      return "recovered " + std::to_string(r.records) + (r.records == 1 ? " record" : " records") +
             " of " + r.app + " (pid " + std::to_string(r.pid) + ", " + how + ")" +
             (r.lost != 0 ? ", " + std::to_string(r.lost) + " lost before it died" : "") +
             ", from " + r.ring_path +
             (r.archive_path.empty() ? " (all were archived already)" : " into " + r.archive_path);
    }
    case Outcome::alive:
      return r.ring_path + ": its process is alive (read it with logcat; nothing to recover)";
    case Outcome::exited:
      return r.ring_path + ": " + who + " exited normally and archived its records; left as is";
    case Outcome::not_ours:
      return r.ring_path + ": belongs to another user; left alone";
    case Outcome::failed:
      break;
  }
  return r.ring_path + ": not recovered: " + r.error;
}

std::vector<RecoveredRing> recover_dead_rings(const std::string& ring_dir, const Config& config,
                                              const std::string& app) {
  return archive::recover_dead_rings(ring_dir, app.empty() ? app : ring::sanitize_app(app),
                                     archive::file_settings(config, ""), config.zstd_level);
}

}  // namespace blackbox
