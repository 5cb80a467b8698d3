// Runs: one process's life (app, pid, start), as its archive files and ring file tell it,
// without decoding a record (chunk indexes, loss markers, end and crash frames, ring
// headers). `logcat runs` lists them; `--run N` selects one, as journalctl's -b a boot.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "blackbox/reader.hpp"
#include "sources.hpp"

namespace logcat {

struct Run {
  std::string app, host;
  std::int32_t pid = 0;
  std::int64_t start_ns = 0;  // the process's start (wall clock)
  std::int64_t end_ns = 0;    // when it ended, or its last record; 0: none known
  // "running", "exited", "crashed: SIGSEGV", "killed", for a program under bbx-run also
  // "exited: status 3" and "killed: SIGTERM", or "unknown" (no end recorded and
  // the process is gone: an archive written before end frames, or one whose ring is not
  // among the inputs).
  std::string how;
  bool running = false;
  std::uint64_t records = 0;  // archived, plus what only its ring holds so far
  std::uint64_t lost = 0;     // loss markers, plus the ring's overwritten records
  std::int64_t last_record_ns = 0;
  int index = 0;                 // per app: 0 the last run, -1 the one before, ... (journalctl -b)
  std::int32_t wrapper_pid = 0;  // the bbx-run that ran it (its records are counted in)
};

// Every run in the inputs, oldest first (by start time); polls the rings.
// `apps`: only theirs (empty: every app's).
[[nodiscard]] std::vector<Run> find_runs(Inputs& inputs, const std::vector<std::string>& apps);

// `--run N` among `runs` (of one app): 0 the last, -1 the previous, ...; 1 the first, 2 the
// second, ... Null with `error` set when there is no such run, or the runs are of several
// apps.
[[nodiscard]] const Run* pick_run(const std::vector<Run>& runs, int n, std::string& error);

// `logcat runs`: a table (text) or one JSON object per run. Returns the exit status.
int run_runs(Inputs& inputs, const std::vector<std::string>& apps, bool utc, bool json);

}  // namespace logcat
