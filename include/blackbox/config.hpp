// Configuration: a plain struct with documented defaults, units and ranges, validated once.
// Environment variables map onto the same fields (Config::from_env).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace blackbox {

// What a logging thread does when its ring is full, that is, when the block it is about to
// write into still holds records the archive has not got (Config::when_full).
enum class WhenFull : std::uint8_t {
  overwrite,  // never wait: the oldest records are overwritten, and counted as lost
  wait,       // wait for the flusher to archive them, up to Config::max_wait
};

struct Config {
  // Directory for the ring file: default_dir(), /dev/shm/blackbox-<uid>. Env: BBX_DIR.
  // Created (mode 0700) if missing. It must be owned by this user and writable by no one
  // else; if it cannot be used, logging goes to an anonymous in-memory ring instead (said
  // once on stderr, and in InitResult).
  std::string dir = default_dir();

  // Application name, used in the ring file's name and header. Env: BBX_APP.
  // Empty: the program's name. Characters outside [A-Za-z0-9._-] become '_'; max 63 bytes.
  std::string app;

  // Host name, in the ring file's and archive files' headers (logcat's `host`, the shippers'
  // host.name). Empty: gethostname(). For containers, whose host name is a pod's: the
  // node's name. At most 63 bytes, no control characters. Env: BBX_HOST.
  std::string host;

  // Level spec: a default level and per-tag overrides, e.g. "info,net=debug,db=warn".
  // Levels: trace, debug, info, warn, error, fatal, off. Env: BBX_LEVEL.
  std::string levels = "info";

  // Rate limits: the most records one call site may log, checked after its level, as a
  // token bucket per site: "net=1000/s,*=100000/s,conn.cpp:42=10/s,audit=off". A rule's key
  // is "*" (every site), a tag (every site of the tag) or FILE:LINE (one site; FILE is the
  // file's name, or an ending of its path); a site follows its own rule, else its tag's,
  // else "*"'s. A rate is N/s, N/min, N/h or N/ms (a site may log N at once, then N per
  // period) or off (no limit). A suppressed call costs about what a disabled one does and
  // is counted: per site, reported about once a second as a record at the site's level and
  // tag ("suppressed 12345 records of site conn.cpp:42 in the last 1.0 s"), in
  // Stats::rate_limited and in the telemetry. "": no limits. Changed at run time with
  // set_rate_limits() or `logcat ctl rate`. Env: BBX_RATE.
  std::string rate_limits;

  // Bytes of ring per logging thread. Power of two, 64 KiB .. 1 GiB. Env: BBX_RING_BYTES.
  std::uint64_t ring_bytes = 1u << 20;

  // Bytes per ring block, the unit of overwriting. Power of two, 4 KiB .. ring_bytes / 4.
  // A record never straddles a block, so this also bounds the size of one record.
  std::uint32_t block_bytes = 16u << 10;

  // Most threads that can hold a ring at once (threads that exited give theirs back).
  // 1 .. 65536. Only the rings of threads that log are ever touched. Env: BBX_MAX_THREADS.
  std::uint32_t max_threads = 256;

  // Room for application metrics (blackbox/metrics.hpp), in 8-byte cells per thread that
  // updates them: a counter or a gauge takes 1, a text metric 8, a histogram 1,640 (13 KiB).
  // Each such thread's cells are reserved when it first logs or updates a metric; a metric
  // that finds no room is not stored (its updates are counted as lost, and said once).
  // A multiple of 512 in 512 .. 1048576. Env: BBX_METRIC_CELLS.
  std::uint32_t metric_cells = 8192;

  // Bytes reserved for call-site definitions (~100 bytes each). 64 KiB .. 256 MiB.
  std::uint32_t site_table_bytes = 1u << 20;

  // String arguments longer than this are cut (at a UTF-8 boundary) and marked truncated.
  // 16 .. block_bytes / 2. Env: BBX_MAX_STRING.
  std::uint32_t max_string_bytes = 4096;

  // Remove the ring file on shutdown() or normal exit (after the final flush to the
  // archive). A crash or kill always leaves it.
  bool remove_ring_on_exit = true;

  // Crash handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT and std::terminate: they
  // write a crash report into the ring file (signal, faulting address and thread, stack
  // addresses, the exception), mark it crashed, then hand over to the handler that was
  // installed before (or the default action: the process still dies of the signal and
  // dumps core). Env: BBX_CRASH_HANDLERS (0 or 1).
  bool crash_handlers = true;

  // If set, the crash handler also writes a dump of the rings there (a copy of the ring
  // file, `<app>.<pid>.crash.bbd`, mode 0600, with plain write(2)): a second copy for when
  // the ring directory is tmpfs that a reboot empties, or is cleaned up by recovery. Also
  // where the dump signal's dumps go. Created (mode 0700) if missing. Env: BBX_CRASH_DIR.
  std::string crash_dir;

  // A signal (e.g. SIGUSR2) that makes the flusher thread write a dump of the rings,
  // `<app>.<pid>.<UTC time>.bbd`, into crash_dir (else into dir), while every thread keeps
  // logging. 0: none. Needs the flusher thread, which runs for every ring file (not for an
  // in-memory ring). Not one of the crash signals. Env: BBX_DUMP_SIGNAL (a number, or a name such
  // as USR2 or SIGUSR2).
  int dump_signal = 0;

  // --- The console: records also shown as text lines, for people at a terminal. ---

  // "auto" (on when stderr is a terminal), "on", "off", or "json" (one JSON object per line
  // on stdout, for container runtimes that collect stdout); a level alone ("warn") is "on"
  // from that level up, and "MODE:LEVEL" sets both ("json:warn"). The logger's own levels
  // apply first. Lines are logcat's text lines (colour on a terminal, unless NO_COLOR is
  // set), formatted and written by the flusher thread, never by the logging thread; a
  // console that cannot take them (a full pipe, a stopped pager) costs lines, counted in
  // Stats::console_not_shown and said ("... 1,234 lines not shown"), never a wait.
  // Env: BBX_CONSOLE.
  std::string console = "auto";

  // The console shows a record at most this long (ms) after it was logged (plus the time to
  // write it). 5 .. 10000. Independent of flush_interval_ms. Env: BBX_CONSOLE_MS.
  std::uint32_t console_interval_ms = 50;

  // Captures the process's stdout and stderr: file descriptors 1 and 2 become pipes that a
  // thread ("bbx-capture") reads; each line becomes a record (tag "stdout" at level info,
  // tag "stderr" at level warn; lines over max_string_bytes in pieces of that size; a line
  // without its newline once nothing followed for 50 ms) and is passed through to where fd 1
  // or 2 pointed before, so the terminal shows it as before. stdout is made line-buffered.
  // Child processes inherit the capture. A crash drains the pipes into the ring before the
  // report (every line written to fd 1 or 2 before the fault is kept). shutdown() restores
  // fds 1 and 2. Env: BBX_CAPTURE (0 or 1).
  bool capture_stdio = false;

  // --- The archive: a background thread flushes the rings to zstd-compressed files. ---

  // The failure budget: the share of records the process may lose (every cause: overwritten,
  // no slot, disk, site table, after exit, corrupt, rate limited) over the last minute,
  // e.g. 0.001 for 0.1 %. Going over it is said once, by a warning record (tag "blackbox")
  // naming the causes; `logcat stats` and `logcat top` show each cause's share against it.
  // 0 .. 1; 0: no budget (the shares are still shown). Env: BBX_LOSS_BUDGET ("0.1%" or
  // "0.001").
  double loss_budget = 0.001;

  // Directory for archive files. Env: BBX_ARCHIVE_DIR ("off" disables the archive). Created
  // (mode 0750, with missing parents) if needed. Empty: no archive (the flusher thread still
  // runs for a ring file: it keeps the telemetry and serves control from outside,
  // blackbox/control.hpp).
  // Default: $XDG_STATE_HOME/blackbox, else $HOME/.local/state/blackbox, else
  // /var/tmp/blackbox-<uid>.
  std::string archive_dir = default_archive_dir();

  // The flusher writes at least this often (ms), and sooner when a ring is a quarter unread
  // or flush() is called. Also how often the telemetry in the ring file is refreshed, and
  // the longest a control request from outside waits (it wakes the flusher at once).
  // 10 .. 60000. Env: BBX_FLUSH_MS.
  std::uint32_t flush_interval_ms = 1000;

  // A snapshot of every application metric (blackbox/metrics.hpp) goes into the archive this
  // often, for `logcat metrics --since`; also one at each rotation, at exit, and when a dead
  // process's ring is recovered. 0: only those. 0, or 100 ms .. 1 h. Env: BBX_METRICS_MS.
  std::chrono::milliseconds metrics_interval{10'000};

  // When a thread's ring is full (its producer has lapped the archive): overwrite (the
  // default: logging never waits; what is overwritten is counted as lost) or wait, for batch
  // jobs and audits that need an archive complete under any load: the logging thread waits
  // (spinning, then yielding, then sleeping) until the flusher has written the block it is
  // about to reuse into an archive file, at most max_wait per block, after which it overwrites
  // and the loss is counted as in overwrite mode (a thread that gave up does not wait again
  // until the archive moves). Waits happen once per block (16 KiB of records by default), not
  // per call. Waiting needs an archive: without one, or while the disk fails (the breaker is
  // open), rings are overwritten. The time spent waiting is in the telemetry
  // (Telemetry::producer_waits, producer_wait_ns, producer_gave_up). A crash loses nothing
  // either way: what the archive has not got is still in the ring file.
  // Env: BBX_WHEN_FULL (overwrite or wait), BBX_MAX_WAIT_MS (1 ms .. 1 h).
  WhenFull when_full = WhenFull::overwrite;
  std::chrono::milliseconds max_wait{1000};

  // zstd level for record chunks: -7 (fastest) .. 19. Env: BBX_ZSTD_LEVEL.
  int zstd_level = 1;

  // A new file is started when the current one reaches rotate_bytes (64 KiB .. 4 GiB) or is
  // rotate_seconds old (1 .. 604800). Env: BBX_ROTATE_BYTES, BBX_ROTATE_SECONDS.
  std::uint64_t rotate_bytes = 64u << 20;
  std::uint32_t rotate_seconds = 3600;

  // Files of this app are deleted, oldest first, while together they exceed retain_bytes
  // or are older (last written) than retain_seconds; 0 means no limit. A file another
  // process is still writing is never deleted. Env: BBX_RETAIN_BYTES, BBX_RETAIN_SECONDS.
  std::uint64_t retain_bytes = 1ull << 30;
  std::uint32_t retain_seconds = 3 * 24 * 3600;
  // Files a reader still needs (a shipper's retention hold, blackbox/retention.hpp: files
  // last written after the oldest hold) are kept beyond retain_bytes and retain_seconds
  // while all of the app's files together stay within this ceiling; beyond it they are
  // deleted anyway, oldest first, and counted (Stats::archive_files_deleted_unshipped).
  // 0: no ceiling. Env: BBX_RETAIN_UNSHIPPED_BYTES.
  std::uint64_t retain_unshipped_bytes = 4ull << 30;

  // The default ring directory for this user: /dev/shm/blackbox-<effective uid> (tmpfs:
  // the rings cost no disk writes and survive any process death, not a reboot). Per user,
  // so that users never share, or fight over, one directory; the same for every process of
  // the user, whatever its environment, so logcat finds a service's rings. If another user
  // squatted that name (created it first, or it is a link or writable by others), it is
  // refused (said when the logger starts) and the ring goes to /run/user/<uid>/blackbox
  // (logind's per-user tmpfs, which no one else can create in), else to
  // ~/.local/state/blackbox/rings (the home directory from the password database).
  [[nodiscard]] static std::string default_dir();

  // The default archive directory for this user (see archive_dir).
  [[nodiscard]] static std::string default_archive_dir();

  // Defaults overridden by the BBX_* environment variables. A bad value is reported in
  // `warnings` (naming the variable and what was expected), or on stderr if `warnings` is
  // null, and the default is kept.
  [[nodiscard]] static Config from_env(std::vector<std::string>* warnings = nullptr);

  // Empty if every field is in range, else one message per bad field.
  [[nodiscard]] std::vector<std::string> validate() const;
};

}  // namespace blackbox
