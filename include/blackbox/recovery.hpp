// Recovering the ring files that dead processes left behind.
//
// A process that crashed or was killed leaves its ring file (Config::dir): its last records,
// the crash report, and how far its flusher had archived. Recovery writes what was not
// archived yet, with the crash report, into an archive file of its own in
// Config::archive_dir (named and headed as the dead process's, so logcat shows it with that
// process's other files), then removes the ring file. init() does this for its own app's
// dead rings, in the flusher thread; `logcat recover` does it by hand for any app.
//
// A ring file is dead when no process holds its lock: the writer holds it for its whole
// life, and the kernel lets go however the process ends, whatever becomes of its pid.
// Rings of processes that exited normally are left alone (their flusher archived
// everything; they were kept on purpose, Config::remove_ring_on_exit).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "blackbox/config.hpp"

namespace blackbox {

struct RecoveredRing {
  enum class Outcome {
    recovered,  // written to the archive (or all archived already), ring file removed
    alive,      // its process still runs: left alone
    exited,     // its process exited normally: left alone
    not_ours,   // owned by another user: left alone, never archived under our name
    failed,     // not a usable ring file (renamed to *.bbr.unreadable, reported once), or
                // the archive could not be written (ring file kept, retried next start)
  };
  Outcome outcome = Outcome::failed;
  std::string ring_path;
  std::string archive_path;  // the file written ("" if there was nothing to write)
  std::string app;
  std::int32_t pid = 0;
  int signal = 0;             // the crash's signal; 0: killed, or no crash report
  // It had exited, but its final flush had failed (disk full): the ring held what the
  // archive lacked (recovered, not left alone).
  bool exited_unarchived = false;
  std::uint64_t records = 0;  // records written to the archive
  std::uint64_t lost = 0;     // records its rings no longer held (overwritten, damaged)
  std::string error;          // why it failed
  // One line for the operator: what was recovered from where into where, or why not.
  [[nodiscard]] std::string describe() const;
};

// Recovers every dead ring file in `ring_dir` into config.archive_dir (with config's zstd
// level, rotation and retention). `app` (as in file names): only that app's rings; empty:
// every app's. Thread-safe; blocks while it compresses and writes.
[[nodiscard]] std::vector<RecoveredRing> recover_dead_rings(const std::string& ring_dir,
                                                            const Config& config,
                                                            const std::string& app = "");

}  // namespace blackbox
