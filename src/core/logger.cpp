// The logger's process-wide state and its slow paths: start (explicit or on first use),
// site registration, per-tag levels, giving threads a slot, claiming blocks, thread exit,
// fork, shutdown. Nothing here runs per record except reserve_slow(), once per block.
//
// Memory ordering:
//  - g.ring: release when a started ring is published, acquire in started_ring(); the ring's
//    header is complete before any thread writes into it.
//  - Site::header_bits / Site::threshold: see include/blackbox/detail/site.hpp.
//  - The slot write position and the block claim: see reserve_slow() below and
//    include/blackbox/detail/producer.hpp.
//  - Everything else (config, level spec, site list, flags) is guarded by g.mutex.
#include "core/logger.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#include "archive/flusher.hpp"
#include "blackbox/blackbox.hpp"
#include "blackbox/capture.hpp"
#include "blackbox/detail/runtime_site.hpp"
#include "core/console.hpp"
#include "core/control.hpp"
#include "core/level_spec.hpp"
#include "core/loss_budget.hpp"
#include "core/metrics.hpp"
#include "core/rate_limit.hpp"
#include "crash/crash_handler.hpp"
#include "crash/dump.hpp"
#include "ring/clock.hpp"
#include "ring/full_wait.hpp"
#include "ring/wake.hpp"
#include "sys/calendar.hpp"
#include "sys/dirs.hpp"
#include "sys/fork_guard.hpp"
#include "sys/sanitizers.hpp"
#include "sys/sys.hpp"

extern char* program_invocation_short_name;  // glibc

namespace blackbox {
namespace detail {

thread_local constinit Producer tls_producer;

}  // namespace detail

namespace core {
namespace {

// Per-thread facts only the slow paths need (trivial, so no TLS init guard either).
struct ThreadInfo {
  ring::RingMemory* ring;
  ring::SlotHeader* slot;
  std::uint64_t fill_mark;   // unread bytes past which the flusher is woken early
  std::int64_t max_wait_ns;  // Config::when_full = wait: Config::max_wait; 0: overwrite
  std::uint32_t tid;
  std::uint32_t block_bytes;
  bool metrics_attach_failed;  // attach_for_metrics() found no slot: not tried again
  char name[16];
};
thread_local constinit ThreadInfo tls_info{};

struct Logger {
  std::mutex mutex;
  std::mutex shutdown_mutex;  // shutdown() only (see there)
  std::atomic<ring::RingMemory*> ring{nullptr};
  // Set under mutex; read without it (release/acquire: the object is complete before its
  // pointer). Never destroyed: a forked child abandons its parent's.
  std::atomic<archive::Flusher*> flusher{nullptr};
  // The console, if shown; driven by the flusher thread. Same lifetime rules as flusher.
  std::atomic<Console*> console{nullptr};
  // Config::capture_stdio: the capture thread, and fds 1 and 2 as they were before.
  std::atomic<LineCapture*> capture{nullptr};
  LineCapture* stopped_capture = nullptr;  // kept: a crash handler may still hold its address
  int saved_stdout = -1, saved_stderr = -1;
  Config config;
  bool have_config = false;  // set by the first start; a forked child restarts with it
  // Not even an anonymous ring could be mapped: do not retry on every call (relaxed: a
  // thread that misses it only takes the mutex once more).
  std::atomic<bool> start_failed{false};
  LevelSpec levels;
  RateSpec rates;                              // Config::rate_limits, or set_rate_limits()
  std::vector<ring::TimedLevel> timed_levels;  // set from outside for a while (control.cpp)
  detail::Site* sites = nullptr;
  bool shut_down = false;
  bool anonymous = false;
  bool hooks_installed = false;
  // The capture keeper (see there): the write end of its "capture stopped" pipe (-1: none),
  // the ring it was forked with (null: it would start a ring of its own), the capture's
  // pipes (stdout's and stderr's read ends) and line length it keeps; and, in the keeper
  // itself, true (its own logger, if it starts one, captures nothing and shows no console).
  int keeper_stop = -1;
  ring::RingMemory* keeper_ring = nullptr;
  int kept_out = -1, kept_err = -1;
  std::size_t kept_max_line = 0;
  // A memfd each keeper opens anew (its own open file description) and flocks before it
  // reads: a keeper and the one replacing it never both read the pipes. -1: none.
  int keeper_turn = -1;
  bool keeper = false;
  bool said_no_slot = false;
  bool said_site_table_full = false;
  pthread_key_t thread_key{};
  // Records dropped while there is no ring at all (process-local; relaxed counters).
  std::atomic<std::uint64_t> dropped_without_ring{0};
  std::atomic<std::uint64_t> dropped_after_exit{0};
  std::atomic<std::uint64_t> dumps_written{0};            // by the dump signal (relaxed counter)
  std::atomic<std::uint64_t> dropped_site_table_full{0};  // without a ring (relaxed counter)
};

// Never destroyed: threads may log while static destructors run.
Logger& g() {
  static Logger* logger = new Logger;
  return *logger;
}

Level level_for_locked(std::string_view tag) {
  const auto& tags = g().levels.tags;
  for (auto it = tags.rbegin(); it != tags.rend(); ++it) {
    if (it->first == tag) return it->second;
  }
  return g().levels.default_level;
}

// The level below which a site's calls are disabled: its tag's, or none for an audit site.
Level threshold_locked(const detail::Site& site) {
  return site.info->audit ? Level::trace : level_for_locked(site.info->tag);
}

// Every site follows the levels, and the ring file's control area shows them.
void apply_levels_locked() {
  for (detail::Site* s = g().sites; s != nullptr; s = s->next) {
    s->threshold.store(static_cast<std::uint8_t>(threshold_locked(*s)), std::memory_order_relaxed);
  }
  if (ring::RingMemory* ring = g().ring.load(std::memory_order_relaxed); ring != nullptr) {
    if (ring::ControlArea* control = ring->control(); control != nullptr) {
      publish_levels(*control, g().levels, g().timed_levels);
    }
  }
}

// Every site follows the rate limits.
void apply_rates_locked() {
  for (detail::Site* s = g().sites; s != nullptr; s = s->next)
    apply_rate_limit_locked(*s, g().rates);
}

// Back to the state before attach_producer(), keeping the trace context.
void detach(detail::Producer& p) {
  p.data = nullptr;
  p.published = nullptr;
  p.wpos = 0;
  p.block_end = 0;
  p.seq = 0;
  p.max_string = detail::Producer{}.max_string;
  p.max_record = 0;
  p.metric_cells = nullptr;
  p.metric_shared = nullptr;
  p.metric_limit = 0;
}

void on_thread_exit(void*) {
  detail::Producer& p = detail::tls_producer;
  if (p.data != nullptr && tls_info.ring != nullptr) tls_info.ring->release_slot(p.slot, p.seq);
  detach(p);
  crash::release_alt_stack();
  p.exited = true;  // later log calls on this thread (other destructors) are counted drops
}

void at_exit() { shutdown(); }

// The fork guard last: the background thread never waits for our mutexes inside a fork-safe
// section, so taking it after them cannot deadlock; with it held, the background thread is
// between C library calls whose locks fork() would copy held (sys/fork_guard.hpp).
// The keeper's fork (start_capture_keeper) does these steps itself, holding the mutex.
bool g_forking_keeper = false;
void before_fork() {
  if (g_forking_keeper) return;
  g().mutex.lock();
  lock_metrics_for_fork();
  sys::fork_guard_prepare();
}
void after_fork_parent() {
  if (g_forking_keeper) return;
  sys::fork_guard_parent();
  unlock_metrics_after_fork();
  g().mutex.unlock();
}
void after_fork_child_reset();
void after_fork_child() {
  if (g_forking_keeper) return;
  after_fork_child_reset();
}
void after_fork_child_reset() {
  Logger& l = g();
  sys::fork_guard_child();
  unlock_metrics_after_fork();
  l.mutex.unlock();
  // The parent's ring is shared memory: the child must not write into it. It starts its own
  // ring (same config, its own pid) on its first log call; sites are defined there anew.
  if (ring::RingMemory* parent = l.ring.load(std::memory_order_relaxed); parent != nullptr) {
    parent->forget_file();  // the mapping stays (never unmapped); the lock is the parent's
  }
  l.ring.store(nullptr, std::memory_order_relaxed);
  ring::set_own_ring(nullptr);
  crash::set_ring(nullptr);  // until the child has a ring of its own
  // The parent's flusher thread does not exist here; its object may hold locked mutexes.
  l.flusher.store(nullptr, std::memory_order_relaxed);
  l.console.store(nullptr, std::memory_order_relaxed);
  // The parent's capture thread is not ours (fds 1 and 2 still lead to its pipes: what this
  // process writes there, the parent records).
  l.capture.store(nullptr, std::memory_order_relaxed);
  crash::set_before_report(nullptr);
  crash::set_after_report(nullptr);
  l.keeper_stop = -1;  // the parent's keeper, not ours (its descriptor stays: not ours to close)
  l.keeper_ring = nullptr;
  ring::reset_wake();
  ring::reset_waits();
  for (detail::Site* s = l.sites; s != nullptr; s = s->next) {
    s->header_bits.store(0, std::memory_order_relaxed);
    s->no_room.store(0, std::memory_order_relaxed);  // the child's ring has an empty table
  }
  detach(detail::tls_producer);
  tls_info = ThreadInfo{};
  ring::reset_refresh_schedule();
}

// The dump the dump signal asked for, into `dir` (the flusher thread's each_pass hook).
void write_requested_dump(const ring::RingMemory& ring, const std::string& dir,
                          const std::string& app) {
  if (dir.empty()) return;
  std::string error;
  const std::string path = crash::dump_to_dir(ring, dir, app, error);
  if (path.empty()) {
    say("dump signal: " + error);
    return;
  }
  g().dumps_written.fetch_add(1, std::memory_order_relaxed);
  say("dump signal: wrote " + path);
}

// The crash handler's drain of the capture pipes (async-signal-safe, at most 100 ms).
void drain_capture_for_crash() noexcept {
  if (LineCapture* c = g().capture.load(std::memory_order_acquire); c != nullptr) {
    (void)c->drain_now(100);
  }
}

// The capture keeper. The capture thread takes bytes from the pipes only once it has passed
// them through and logged them (LineCapture's tee), so when this process ends without a
// word (_exit, kill -9: no shutdown, no crash handler), whatever it had not handled is still
// in the pipes. The keeper, a process of its own that also holds the pipes' read ends and the
// terminal's descriptors, does nothing while we live. When we are gone it passes those bytes
// through to the terminal and logs them, line by line: into our ring file if we had one when
// it was forked (from a slot of its own; the next start of the app recovers them with the
// rest), else into a ring of its own that it archives (a program that wrote lines and ended
// before its first record started the logger). When the capture stops (shutdown, exit), we
// tell it so and it ends without reading: what is left in the pipes then is a child's.
//
// It is forked at the capture's start, with the mutex held (so no state it guards is half
// changed) and the logger's own fork protocol (the fork guard, the metrics lock, the child's
// reset), and forked again by that child, so that it is nobody's child (a server reaping its
// children never waits for it). It costs one sleeping process whose memory is the pages it
// shares, copy-on-write, with what we had then. Under ThreadSanitizer and AddressSanitizer
// there is no keeper: their runtimes do not follow a fork of a threaded process (clang 14's
// allocator lock is not taken around fork(); a keeper that logs into a ring of its own
// allocates, and can wait for ever on a lock another thread held).
#if defined(BLACKBOX_TSAN) || defined(BLACKBOX_ASAN)
constexpr bool kCaptureKeeper = false;
#else
constexpr bool kCaptureKeeper = true;
#endif

// The keeper's process: `streams` are the capture's (read ends, tags, levels, terminals).
[[noreturn]] void keeper_main(int parent, int stopped, int turn, ring::RingMemory* parent_ring,
                              const std::vector<LineCapture::Stream>& streams,
                              std::size_t max_line) {
  prctl(PR_SET_NAME, "bbx-keeper");
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  for (const int sig : {SIGINT, SIGQUIT, SIGHUP, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE, SIGTERM}) {
    sigaction(sig, &ignore, nullptr);
  }
  // fds 1 and 2 are the pipes' write ends: holding them would keep the pipes open for ever.
  const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd <= 2; ++fd) ::dup2(null, fd);
  // Nothing else of the process's (its ring file's lock above all: recovery must see it
  // dead): every other descriptor closed but ours.
  // Our own open file description of the turn file: flock() excludes the other keeper.
  const int own_turn =
      turn >= 0 ? ::open(("/proc/self/fd/" + std::to_string(turn)).c_str(), O_RDONLY | O_CLOEXEC)
                : -1;
  int keep[] = {parent,
                stopped,
                own_turn,
                streams[0].fd,
                streams[0].passthrough,
                streams[1].fd,
                streams[1].passthrough};
  std::sort(std::begin(keep), std::end(keep));
  unsigned from = 3;
  for (const int fd : keep) {
    if (fd >= static_cast<int>(from)) {
      if (fd > static_cast<int>(from)) close_range(from, static_cast<unsigned>(fd) - 1, 0);
      from = static_cast<unsigned>(fd) + 1;
    }
  }
  close_range(from, ~0u, 0);
  // Wait for the process to end, or for its word that the capture stopped (a byte).
  pollfd wait[2] = {{parent, POLLIN, 0}, {stopped, POLLIN, 0}};
  while (true) {
    if (::poll(wait, 2, -1) < 0) {
      if (errno == EINTR) continue;
      _exit(1);
    }
    // The word first: a keeper replaced by another (once the ring started) must not read
    // beside it, even if the process is gone by the time it looks.
    if (wait[1].revents != 0) {
      char word = 0;
      if (::read(stopped, &word, 1) == 1) _exit(0);  // the capture stopped: nothing to keep
      wait[1].fd = -1;  // closed without a word: the process is gone, or going
    }
    if (wait[0].revents != 0) break;  // gone
  }
  // A keeper replaced just before the process ended may not have its word yet: whichever of
  // the two comes first reads, the other then finds the pipes empty.
  if (own_turn >= 0) {
    while (::flock(own_turn, LOCK_EX) < 0 && errno == EINTR) {
    }
  }
  Logger& l = g();
  if (parent_ring != nullptr) {
    // Its ring file is ours to append to (nobody else writes there now): this process logs
    // there as the forked child it is, its sites defined there anew.
    l.ring.store(parent_ring, std::memory_order_release);
  } else {
    l.keeper = true;  // a ring of our own: no capture, no console there
  }
  // What the pipes hold now, passed through and logged as the capture thread would have.
  LineCapture(streams, max_line).stop(0);
  if (parent_ring == nullptr) {
    // Our ring, if anything was logged, ends as the process's would have: archived, or
    // kept when there is no archive (the process's ring file was left too).
    if (l.config.archive_dir.empty()) l.config.remove_ring_on_exit = false;
    shutdown();
  }
  _exit(0);
}

// Starts a keeper that writes into `parent_ring` (null: a ring of its own). Caller holds the
// mutex. Returns the write end of the pipe that tells it the capture stopped, or -1 if it
// could not start (the capture works without it).
int start_capture_keeper(const std::vector<LineCapture::Stream>& streams, std::size_t max_line,
                         int turn, ring::RingMemory* parent_ring) {
  if (!kCaptureKeeper) return -1;
  const int parent = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0));
  int stopped[2];
  if (parent < 0 || ::pipe2(stopped, O_CLOEXEC) != 0) {
    if (parent >= 0) ::close(parent);
    return -1;
  }
  // The logger's fork protocol, by hand: the mutex is held already, and the atfork handlers
  // may not be installed yet (the capture can start before the logger).
  lock_metrics_for_fork();
  sys::fork_guard_prepare();
  g_forking_keeper = true;
  const pid_t middle = fork();
  g_forking_keeper = false;
  if (middle == 0) {
    after_fork_child_reset();  // also releases the mutex our parent holds
    ::close(stopped[1]);
    if (_Fork() == 0) keeper_main(parent, stopped[0], turn, parent_ring, streams, max_line);
    _exit(0);
  }
  sys::fork_guard_parent();
  unlock_metrics_after_fork();
  ::close(parent);
  ::close(stopped[0]);
  if (middle < 0) {
    ::close(stopped[1]);
    return -1;
  }
  while (::waitpid(middle, nullptr, 0) < 0 && errno == EINTR) {
  }
  return stopped[1];
}

// Tells the keeper the capture stopped: it ends without reading (every byte was ours).
void stop_capture_keeper_locked() {
  Logger& l = g();
  if (l.keeper_stop < 0) return;
  (void)!::write(l.keeper_stop, "s", 1);
  ::close(l.keeper_stop);
  l.keeper_stop = -1;
  l.keeper_ring = nullptr;
}

// Has a keeper for the running capture that writes into the current ring: started at the
// capture's start, and again once the ring exists (the old one is told to end). Caller holds
// the mutex.
void keep_capture_locked() {
  Logger& l = g();
  if (l.keeper || l.capture.load(std::memory_order_relaxed) == nullptr) return;
  ring::RingMemory* ring = l.anonymous ? nullptr : l.ring.load(std::memory_order_relaxed);
  if (l.keeper_stop >= 0 && l.keeper_ring == ring) return;
  const int next = start_capture_keeper({{l.kept_out, "stdout", Level::info, l.saved_stdout},
                                         {l.kept_err, "stderr", Level::warn, l.saved_stderr}},
                                        l.kept_max_line, l.keeper_turn, ring);
  if (next < 0) return;  // the one we have (if any) still keeps the lines
  stop_capture_keeper_locked();
  l.keeper_stop = next;
  l.keeper_ring = ring;
}

// Config::capture_stdio: fds 1 and 2 become pipes read by a LineCapture that passes the bytes
// through to where they pointed before. Caller holds the mutex. Returns "" or what failed
// (then nothing changed).
std::string start_capture_locked(const Config& config, bool keep_now) {
  Logger& l = g();
  std::fflush(stdout);
  std::fflush(stderr);
  int out[2] = {-1, -1}, err[2] = {-1, -1};
  const int saved_out = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
  const int saved_err = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  if (saved_out < 0 || saved_err < 0 || ::pipe2(out, O_CLOEXEC) != 0 ||
      ::pipe2(err, O_CLOEXEC) != 0) {
    const std::string why =
        std::string("cannot capture stdout and stderr: ") + sys::error_text(errno);
    for (int fd : {saved_out, saved_err, out[0], out[1], err[0], err[1]}) {
      if (fd >= 0) ::close(fd);
    }
    return why;
  }
  // fds 1 and 2 without close-on-exec: children inherit the capture.
  ::dup2(out[1], STDOUT_FILENO);
  ::dup2(err[1], STDERR_FILENO);
  ::close(out[1]);
  ::close(err[1]);
  // A pipe would make stdout fully buffered: lines would come late, and be lost in a crash.
  std::setvbuf(stdout, nullptr, _IOLBF, BUFSIZ);
  l.saved_stdout = saved_out;
  l.saved_stderr = saved_err;
  // A line passed through waits for the console to show the records logged before it (at
  // most 100 ms): on a terminal, things appear in the order they happened.
  const auto console_first = [] {
    if (Console* c = g().console.load(std::memory_order_acquire); c != nullptr) c->show_now(100);
  };
  auto* capture = new LineCapture(
      {{out[0], "stdout", Level::info, saved_out}, {err[0], "stderr", Level::warn, saved_err}},
      config.max_string_bytes, console_first);
  l.capture.store(capture, std::memory_order_release);
  crash::set_before_report(drain_capture_for_crash);
  l.kept_out = out[0];
  l.kept_err = err[0];
  l.kept_max_line = config.max_string_bytes;
  if (l.keeper_turn < 0) l.keeper_turn = ::memfd_create("bbx-keeper-turn", MFD_CLOEXEC);
  if (keep_now) keep_capture_locked();
  return {};
}

// Restores fds 1 and 2 and stops the capture thread once it has read what the pipes hold
// (waiting at most 100 ms for writers that still hold them: a grandchild may, for ever).
// Without the mutex: the capture thread may need it (its first record) while we join it.
void stop_capture() {
  Logger& l = g();
  LineCapture* capture = l.capture.exchange(nullptr, std::memory_order_acq_rel);
  if (capture == nullptr) return;
  crash::set_before_report(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  ::dup2(l.saved_stdout, STDOUT_FILENO);
  ::dup2(l.saved_stderr, STDERR_FILENO);
  capture->stop(100);
  {
    std::lock_guard lock(l.mutex);
    stop_capture_keeper_locked();
  }
  l.stopped_capture = capture;  // kept, stopped: a crash handler may still hold its address
}

// The console Config::console asks for, or null: "auto" shows it when stderr is a terminal.
// Colour on a terminal unless NO_COLOR is set (no-color.org). With the capture on, lines go
// to where stderr (or stdout) pointed before: never into the capture's own pipe.
Console* make_console(const Config& config) {
  ConsoleSpec spec;
  std::string error;
  if (!parse_console_spec(config.console, spec, error)) return nullptr;  // validated before
  int err_fd = g().saved_stderr >= 0 ? g().saved_stderr : STDERR_FILENO;
  // Under bbx-run, stderr is bbx-run's pipe; BBX_CONSOLE_FD names the descriptor of the
  // terminal it had (inherited), where the console goes instead: shown once, not captured.
  if (const char* v = std::getenv("BBX_CONSOLE_FD"); v != nullptr && *v != '\0') {
    char* end = nullptr;
    const long fd = std::strtol(v, &end, 10);
    if (*end == '\0' && fd > STDERR_FILENO && fd < 1024 &&
        ::fcntl(static_cast<int>(fd), F_GETFD) >= 0) {
      err_fd = static_cast<int>(fd);
    }
  }
  const int out_fd = g().saved_stdout >= 0 ? g().saved_stdout : STDOUT_FILENO;
  const bool terminal = ::isatty(err_fd) == 1;
  switch (spec.mode) {
    case ConsoleSpec::Mode::off:
      return nullptr;
    case ConsoleSpec::Mode::json:
      return new Console(out_fd, text::Format::json, spec.level, false, g().saved_stdout >= 0,
                         err_fd);
    case ConsoleSpec::Mode::automatic:
      if (!terminal) return nullptr;
      [[fallthrough]];
    case ConsoleSpec::Mode::on: {
      const char* no_colour = std::getenv("NO_COLOR");
      const bool colour = terminal && (no_colour == nullptr || *no_colour == '\0');
      return new Console(err_fd, text::Format::text, spec.level, colour, g().saved_stderr >= 0);
    }
  }
  return nullptr;
}

// The crash handler's last word on the terminal (after the report): the console lines not yet
// shown, and where the post-mortem is. Async-signal-safe, at most about 1.5 s (the console's
// final pass gives a terminal that is being read up to 1 s to take the lines).
void show_crash_on_console(const crash::CrashNotice& notice) noexcept {
  if (Console* c = g().console.load(std::memory_order_acquire); c != nullptr) {
    c->show_crash(notice, static_cast<int>(::getpid()), Console::kFinalWaitMs + 500);
  }
}

// The console's counts into the telemetry area (the flusher thread, each pass).
void publish_console_counts(ring::RingMemory& ring, const Console& console) {
  ring::Telemetry* t = ring.telemetry();
  if (t == nullptr) return;
  Stats s;
  console.add_stats(s);
  t->console_lines.store(s.console_lines, std::memory_order_relaxed);
  t->console_not_shown.store(s.console_not_shown, std::memory_order_relaxed);
}

// Starts the logger with `config`. Caller holds the mutex. Returns "" or, if it could not
// get a ring file, what went wrong and what it does instead (also said on stderr).
std::string start_locked(const Config& config) {
  Logger& l = g();
  l.config = config;
  l.have_config = true;
  std::string error;
  if (!parse_level_spec(config.levels, l.levels, error)) l.levels = LevelSpec{};
  apply_levels_locked();
  if (!parse_rate_spec(config.rate_limits, l.rates, error)) l.rates = RateSpec{};
  apply_rates_locked();
  const std::string app = config.app.empty() ? program_invocation_short_name : config.app;
  // The default directory squatted by another user: Config::default_dir() already chose the
  // fallback; say so, loudly (once per start), so it is not a silent change.
  if (const std::string shm = "/dev/shm/blackbox-" + std::to_string(geteuid());
      config.dir != shm && config.dir == Config::default_dir()) {
    if (const std::string why = sys::foreign_dir(shm); !why.empty()) {
      say("refusing " + shm + ": " + why + "; the ring file goes to " + config.dir +
          " instead, where logcat finds it (remove " + shm + " as root to go back)");
    }
  }
  // The default directory's fallback in the home directory may lack its parents (made
  // here, private; a BBX_DIR whose parent is missing stays a mistake, said).
  if (config.dir == Config::default_dir() && config.dir.ends_with("/.local/state/blackbox/rings")) {
    std::string ignored;
    if (const int fd = sys::open_private_dir(config.dir, 0700, true, ignored); fd >= 0) close(fd);
  }
  ring::RingMemory* ring = ring::RingMemory::create_file(config, app, &error);
  l.anonymous = ring == nullptr;
  std::string degraded;
  if (ring == nullptr) {
    std::string anon_error;
    ring = ring::RingMemory::create_anonymous(config, app, &anon_error);
    if (ring != nullptr) {
      degraded = error +
                 "; logging to an in-memory ring instead: records will not survive a crash "
                 "and other processes cannot read them (set BBX_DIR to a directory of yours "
                 "that only you can write)";
    } else {
      degraded = error + "; and " + anon_error + ": log records are dropped and counted";
      l.start_failed.store(true, std::memory_order_relaxed);
    }
    say(degraded);
  }
  if (!l.hooks_installed) {
    if (!ring::clock_is_steady()) {
      say("this CPU does not report an invariant TSC: record times may drift between clock "
          "calibrations (about once a second) if the CPU changes frequency");
    }
    l.hooks_installed = true;
    pthread_key_create(&l.thread_key, on_thread_exit);
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
    std::atexit(at_exit);
  }
  // A crash from here on is reported into this ring (an anonymous one cannot outlive us).
  if (config.crash_handlers && ring != nullptr && !l.anonymous) {
    crash::install(ring, config.crash_dir, ring::sanitize_app(app));
  }
  if (config.capture_stdio && !l.keeper && l.capture.load(std::memory_order_relaxed) == nullptr) {
    // Its keeper starts at the end, with the ring.
    if (std::string why = start_capture_locked(config, false); !why.empty()) say(why);
  }
  Console* console = ring != nullptr && !l.keeper ? make_console(config) : nullptr;
  const bool archive = !config.archive_dir.empty();
  // The flusher thread also serves the control area and keeps the telemetry: it runs for
  // every ring file, archive or not.
  if (ring != nullptr && (archive || console != nullptr || !l.anonymous)) {
    archive::FlusherSettings settings;
    settings.archive = archive;
    settings.end_frame_at_stop = archive;
    settings.files = archive::file_settings(config, ring::sanitize_app(app));
    settings.zstd_level = config.zstd_level;
    settings.interval_ns = std::int64_t{config.flush_interval_ms} * 1'000'000;
    settings.metrics_interval_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(config.metrics_interval).count();
    if (!l.anonymous && archive) settings.recover_ring_dir = config.dir;
    // The hooks of the layers the flusher must not know: a dump the dump signal asked for
    // (written by the flusher thread, never in the signal handler), the crash handler's
    // module map after a dlopen(), and the console's lines.
    settings.telemetry = true;
    settings.levels_text = [] {
      std::lock_guard lock(g().mutex);
      return level_spec_text(g().levels);
    };
    auto control = std::make_shared<ControlServer>(
        ControlContext{config.crash_dir.empty() ? config.dir : config.crash_dir,
                       ring::sanitize_app(app),
                       archive,
                       {config.dir, config.archive_dir}});
    auto budget = std::make_shared<LossBudget>(config.loss_budget, sys::calls().rate_clock_ns());
    settings.each_pass = [ring, control, budget,
                          dump_dir = config.crash_dir.empty() ? config.dir : config.crash_dir,
                          app = ring::sanitize_app(app)]() -> unsigned {
      if (crash::take_dump_request()) write_requested_dump(*ring, dump_dir, app);
      crash::refresh_module_map();
      if (Console* c = g().console.load(std::memory_order_acquire); c != nullptr) {
        c->serve_crash_request();  // first: a crashing thread is waiting for it
        c->serve_show_requests();  // the capture thread, before it passes a line through
        publish_console_counts(*ring, *c);
      }
      (void)report_rate_limited();
      budget->pass(*ring);  // and the telemetry's loss counts it takes
      return control->serve(*ring);
    };
    settings.after_pass = [ring, control](bool ok) { control->after_pass(*ring, ok); };
    if (console != nullptr) {
      settings.tick_ns = std::int64_t{config.console_interval_ms} * 1'000'000;
      settings.each_tick = [console](bool final) { console->pass(final); };
      l.console.store(console, std::memory_order_release);
      crash::set_after_report(show_crash_on_console);
    }
    // Without an archive nothing drains the rings: producers must not ring the doorbell at
    // every block for a flusher that cannot help (the console keeps its own time).
    if (archive) {
      ring->set_drained(true);
    } else {
      ring::mute_wakes(true);
    }
    // A control request from another process wakes the flusher at once: its futex word is
    // the ring file's doorbell.
    if (!l.anonymous && ring->control() != nullptr) {
      ring::use_shared_doorbell(&ring->control()->doorbell);
    }
    auto* flusher = new archive::Flusher(*ring, std::move(settings));
    flusher->start();
    l.flusher.store(flusher, std::memory_order_release);
  }
  if (config.dump_signal != 0) {
    if (l.flusher.load(std::memory_order_relaxed) != nullptr) {
      if (const std::string refused = crash::install_dump_signal(config.dump_signal);
          !refused.empty()) {
        say(refused);
      }
    } else {
      say("dump_signal needs the flusher thread (a ring file, or the archive or the console): "
          "not installed");
    }
  }
  // Release: the ring's header is complete before any thread can find the ring.
  l.ring.store(ring, std::memory_order_release);
  ring::set_own_ring(ring);
  keep_capture_locked();                        // its keeper now writes into this ring
  apply_levels_locked();                        // shows them in the control area
  if (ring != nullptr) publish_metrics(*ring);  // the metrics declared so far
  return degraded;
}

// One record of a site the full site table could not take: counted in the ring header (so
// the flusher writes it as a loss marker and a reader of the ring sees it), or locally when
// there is no ring.
void count_site_table_full(Logger& l) noexcept {
  if (ring::RingMemory* ring = current_ring(); ring != nullptr) {
    ring->header().dropped_site_table_full.fetch_add(1, std::memory_order_relaxed);
  } else {
    l.dropped_site_table_full.fetch_add(1, std::memory_order_relaxed);
  }
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

// BBX_CAPTURE=1: the capture starts with the process, before main(), so the lines a program
// writes before its first log call (or before init()) are records too: a banner, a usage
// message, a library's warning at load. Only the variable starts it here (a Config asking
// for it starts it at init()); the logger itself still starts at the first record (the
// capture's own, at the latest) with the configuration of the environment. g() and what
// start_capture_locked() uses are function-local statics: constructed on first use, so the
// order of static initialisation does not matter.
__attribute__((constructor)) void capture_from_process_start() {
  const char* v = std::getenv("BBX_CAPTURE");
  if (v == nullptr || std::string_view(v) != "1") return;
  Logger& l = g();
  std::lock_guard lock(l.mutex);
  if (l.capture.load(std::memory_order_relaxed) != nullptr) return;
  // Its warnings about other variables are said once, when the logger starts.
  std::vector<std::string> said_at_start;
  if (std::string why = start_capture_locked(Config::from_env(&said_at_start), true);
      !why.empty()) {
    say(why);
  }
}

}  // namespace

std::string change_levels(
    const std::function<std::string(LevelSpec&, std::vector<ring::TimedLevel>&)>& change) {
  Logger& l = g();
  std::lock_guard lock(l.mutex);
  std::string refused = change(l.levels, l.timed_levels);
  if (refused.empty()) apply_levels_locked();
  return refused;
}

ring::RingMemory* current_ring() noexcept { return g().ring.load(std::memory_order_acquire); }

ring::RingMemory* started_ring() noexcept {
  if (auto* ring = current_ring(); ring != nullptr) return ring;
  Logger& l = g();
  if (l.start_failed.load(std::memory_order_relaxed)) return nullptr;
  std::lock_guard lock(l.mutex);
  if (auto* ring = l.ring.load(std::memory_order_relaxed); ring != nullptr) return ring;
  if (l.start_failed.load(std::memory_order_relaxed)) return nullptr;
  if (l.have_config) {
    start_locked(l.config);  // a forked child: same settings as the parent
  } else {
    std::vector<std::string> warnings;
    const Config config = Config::from_env(&warnings);
    for (const auto& w : warnings) say(w);
    start_locked(config);
  }
  return l.ring.load(std::memory_order_relaxed);
}

bool attach_thread(detail::Producer& p, bool for_record) noexcept;  // below

}  // namespace core

namespace detail {

std::uint64_t register_site(Site& site, const ArgType* types, std::uint32_t arg_count) noexcept {
  core::Logger& l = core::g();
  // A site the full site table could not take: every call is a counted loss (no lock).
  if (site.no_room.load(std::memory_order_relaxed) != 0) [[unlikely]] {
    core::count_site_table_full(l);
    return 0;
  }
  ring::RingMemory* ring = core::started_ring();
  std::lock_guard lock(l.mutex);
  if (!site.linked) {
    site.linked = true;
    site.next = l.sites;
    l.sites = &site;
    core::apply_rate_limit_locked(site, l.rates);
  }
  const Level threshold = core::threshold_locked(site);
  site.threshold.store(static_cast<std::uint8_t>(threshold), std::memory_order_relaxed);
  if (site.info->level < threshold) return 0;
  if (ring == nullptr) {  // no ring could be mapped: this record is dropped, counted
    l.dropped_without_ring.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  if (const std::uint64_t bits = site.header_bits.load(std::memory_order_relaxed); bits != 0) {
    return bits;  // another thread defined it meanwhile
  }
  const std::uint32_t id = ring->define_site(*site.info, types, arg_count);
  if (id == 0) {
    // No room to define it: its records are counted as lost from now on (this one too),
    // without the mutex.
    site.no_room.store(1, std::memory_order_relaxed);
    core::count_site_table_full(l);
    if (!l.said_site_table_full) {
      l.said_site_table_full = true;
      core::say(
          "the site table is full; records of call sites defined from now on are dropped and "
          "counted (raise Config::site_table_bytes)");
    }
    return 0;
  }
  // Release: the definition (published in define_site()) before the id. See site.hpp.
  const std::uint64_t bits = std::uint64_t{id} << 32;
  site.header_bits.store(bits, std::memory_order_release);
  return bits;
}

bool attach_producer(Producer& p) noexcept { return core::attach_thread(p, true); }

}  // namespace detail

namespace core {

// Gives the thread a slot: for its first record (`for_record`: a failure is a dropped record,
// counted), or for its first metric update (a failure is not a loss: the updates go to the
// shared stripe).
bool attach_thread(detail::Producer& p, bool for_record) noexcept {
  Logger& l = g();
  if (p.exited) {
    if (!for_record) return false;
    if (ring::RingMemory* ring = current_ring(); ring != nullptr) {
      ring->header().dropped_after_exit.fetch_add(1, std::memory_order_relaxed);
    } else {
      l.dropped_after_exit.fetch_add(1, std::memory_order_relaxed);
    }
    return false;
  }
  ring::RingMemory* ring = started_ring();
  if (ring == nullptr) {
    if (for_record) l.dropped_without_ring.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  const auto tid = static_cast<std::uint32_t>(syscall(SYS_gettid));
  std::string error;
  const int slot = ring->claim_slot(tid, &error);
  if (slot < 0) {
    if (for_record) ring->header().dropped_no_slot.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(l.mutex);
    if (!l.said_no_slot) {
      l.said_no_slot = true;
      say(error +
          "; records of threads without a slot are dropped and counted (their metric updates "
          "are kept, in the shared cells)");
    }
    return false;
  }
  ring::SlotHeader& header = ring->slot_header(static_cast<std::uint32_t>(slot));
  const ring::Layout& layout = ring->layout();
  p.data = ring->slot_data(static_cast<std::uint32_t>(slot));
  p.published = &header.write_pos;
  // Relaxed: the claim's acquire CAS ordered us after the previous owner's release.
  p.wpos = header.write_pos.load(std::memory_order_relaxed);
  p.block_end = p.wpos;  // the first record claims a fresh block with our tid
  p.mask = layout.ring_bytes - 1;
  p.seq = header.next_seq.load(std::memory_order_relaxed);
  p.max_string = ring->max_string_bytes();
  p.max_record = layout.block_bytes - static_cast<std::uint32_t>(sizeof(ring::BlockHeader)) -
                 ring::kBlockTailBytes;
  p.slot = static_cast<std::uint32_t>(slot);
  if (ring->metrics() != nullptr) {
    p.metric_cells = ring->metric_stripe(static_cast<std::uint32_t>(slot) + 1);
    p.metric_shared = ring->metric_stripe(0);
    p.metric_limit = layout.metric_cells;
  }
  tls_info.ring = ring;
  tls_info.slot = &header;
  tls_info.fill_mark = layout.ring_bytes / 4;
  tls_info.max_wait_ns =
      l.config.when_full == WhenFull::wait
          ? std::chrono::duration_cast<std::chrono::nanoseconds>(l.config.max_wait).count()
          : 0;
  tls_info.tid = tid;
  tls_info.block_bytes = layout.block_bytes;
  std::memset(tls_info.name, 0, sizeof tls_info.name);
  pthread_getname_np(pthread_self(), tls_info.name, sizeof tls_info.name);
  // Any non-null value: makes on_thread_exit() run when this thread exits.
  pthread_setspecific(l.thread_key, &tls_info);
  crash::ensure_alt_stack();  // a crash on this thread (even a stack overflow) is reported
  return true;
}

bool attach_for_metrics(detail::Producer& p) noexcept {
  if (p.max_record != 0 || tls_info.metrics_attach_failed) return false;  // attached, or tried
  if (attach_thread(p, false)) return true;
  tls_info.metrics_attach_failed = true;
  return false;
}

}  // namespace core

namespace detail {

// Memory ordering: the claim. Storing the new block's start position tells readers
// (invariant 3 in format/ring_layout.hpp) that the block's previous contents, one lap ago, are
// gone; the release fence after it orders that store before our stores into the block, so a reader
// whose copy saw any of our new bytes sees, after its acquire fence, this position or a later one
// and discards the copy. This is the seqlock writer protocol with the write position as the
// sequence.
std::byte* reserve_slow(Producer& p) noexcept {
  const core::ThreadInfo& t = core::tls_info;
  const std::uint64_t block = t.block_bytes;
  std::uint64_t w = p.wpos;
  const std::uint64_t claim = (w + block - 1) & ~(block - 1);  // the block we take next
  // Config::when_full = wait: the claim reuses the block one lap back; wait until the archive
  // has all of it (full_wait.hpp). p.mask + 1 is the ring's size.
  if (t.max_wait_ns != 0 && claim > p.mask) [[unlikely]] {
    (void)ring::wait_for_archive(t.slot->archived_pos, claim + block - (p.mask + 1), t.max_wait_ns);
  }
  if (w != claim) {
    const std::uint32_t padding_marker = 0;  // "rest of block unused"
    std::memcpy(p.data + (w & p.mask), &padding_marker, sizeof padding_marker);
    w = claim;
  }
  // Release: publishes the padding marker (and the last record) with the claim.
  p.published->store(w, std::memory_order_release);
  std::atomic_thread_fence(std::memory_order_release);
  ring::BlockHeader header{};
  header.position = w;
  header.first_seq = p.seq;
  header.tid = t.tid;
  std::memcpy(header.thread_name, t.name, sizeof header.thread_name);
  std::memcpy(p.data + (w & p.mask), &header, sizeof header);
  w += sizeof header;
  p.wpos = w;
  // Records stop kBlockTailBytes short of the block's end (ring_layout.hpp, invariant 3).
  p.block_end = (w & ~(block - 1)) + block - ring::kBlockTailBytes;
  ring::maybe_refresh(t.ring->header().clock, now_ticks());
  // A quarter of the ring unread by the flusher: wake it well before we lap it. Relaxed: a
  // hint.
  if (w - t.slot->drained_pos.load(std::memory_order_relaxed) > t.fill_mark) [[unlikely]] {
    ring::wake_flusher();
  }
  return p.data + (w & p.mask);
}

std::string format_eager(const char* message_template, std::uint32_t index,
                         fmt::format_args args) noexcept {
  try {
    // Find placeholder `index` and rebuild it without its name: "{:spec}".
    const std::string_view text(message_template);
    std::uint32_t seen = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] != '{') continue;
      if (i + 1 < text.size() && text[i + 1] == '{') {
        ++i;
        continue;
      }
      const std::size_t close = text.find('}', i);
      if (close == std::string_view::npos) break;
      if (seen++ == index) {
        const std::string_view inner = text.substr(i + 1, close - i - 1);
        const std::size_t colon = inner.find(':');
        std::string spec = "{";
        if (colon != std::string_view::npos) spec.append(inner.substr(colon));
        spec += "}";
        return fmt::vformat(spec, args);
      }
      i = close;
    }
    return fmt::vformat("{}", args);
  } catch (const std::exception& e) {
    return std::string("{format error: ") + e.what() + "}";
  } catch (...) {
    return "{format error}";
  }
}

WireString truncate_string(const char* data, std::size_t size, std::uint32_t limit) noexcept {
  if (size <= limit) return {data, static_cast<std::uint32_t>(size), 0};
  std::uint32_t cut = limit;
  // Back off over UTF-8 continuation bytes so a character is never split.
  while (cut > 0 && (static_cast<unsigned char>(data[cut]) & 0xC0) == 0x80) --cut;
  return {data, cut, kStringTruncated};
}

}  // namespace detail

InitResult init(const Config& config) {
  if (auto errors = config.validate(); !errors.empty()) {
    return {"blackbox::init: invalid config: " + core::join(errors)};
  }
  core::Logger& l = core::g();
  std::lock_guard lock(l.mutex);
  if (l.shut_down) return {"blackbox::init: the logger was shut down and cannot start again"};
  if (l.ring.load(std::memory_order_relaxed) == nullptr) {
    if (std::string degraded = core::start_locked(config); !degraded.empty()) {
      return {"blackbox::init: " + degraded, true};
    }
    return {};
  }
  const Config& run = l.config;
  const bool same_ring =
      run.dir == config.dir && run.app == config.app && run.host == config.host &&
      run.ring_bytes == config.ring_bytes && run.block_bytes == config.block_bytes &&
      run.max_threads == config.max_threads && run.site_table_bytes == config.site_table_bytes &&
      run.max_string_bytes == config.max_string_bytes;
  core::LevelSpec spec;
  std::string error;
  (void)core::parse_level_spec(config.levels, spec, error);  // validated above
  l.levels = spec;
  l.config.levels = config.levels;
  l.config.remove_ring_on_exit = config.remove_ring_on_exit;
  core::apply_levels_locked();
  (void)core::parse_rate_spec(config.rate_limits, l.rates, error);  // validated above
  l.config.rate_limits = config.rate_limits;
  core::apply_rates_locked();
  if (!same_ring) {
    return {
        "blackbox::init: the logger was already started (by a log call before init) with "
        "dir=\"" +
        run.dir + "\" app=\"" + run.app +
        "\" and its ring geometry; only levels, rate limits and remove_ring_on_exit were "
        "applied. "
        "Call init() before the first log call to choose the rest."};
  }
  if (l.anonymous) {
    return {
        "blackbox::init: the logger already runs on an in-memory ring (its ring directory "
        "could not be used when it started; said on stderr then)",
        true};
  }
  return {};
}

void shutdown() noexcept {
  core::Logger& l = core::g();
  // The captured lines first (they are records for the final flush), fds 1 and 2 restored.
  core::stop_capture();
  // Held to the end (a second caller returns once the first is done); never taken by the
  // flusher thread.
  std::lock_guard shutting(l.shutdown_mutex);
  ring::RingMemory* ring = nullptr;
  archive::Flusher* flusher = nullptr;
  {
    std::lock_guard lock(l.mutex);
    if (l.shut_down) return;
    l.shut_down = true;
    ring = l.ring.load(std::memory_order_relaxed);
    flusher = l.flusher.load(std::memory_order_relaxed);
  }
  if (ring == nullptr) return;
  // The final flush: everything in the rings goes to the archive before the ring file goes.
  // Without the mutex: the flusher's last pass may take it (a control request, its audit
  // record's first call).
  if (flusher != nullptr) flusher->stop();
  // The final flush failed (disk full, the breaker open): the ring file is all there is of
  // what the archive lacks, and of the losses counted meanwhile. It stays, marked for the
  // recovery of the app's next start (or `logcat recover`).
  const bool complete = flusher == nullptr || flusher->archive_complete();
  std::lock_guard lock(l.mutex);
  if (!complete) {
    ring->header().exit_flags.store(ring::kExitArchiveIncomplete, std::memory_order_relaxed);
  }
  ring->set_state(ring::ProcessState::exited);  // release: the flags before the state
  if (complete && l.config.remove_ring_on_exit) {
    ring->remove_file();
  } else if (!complete && !ring->path().empty()) {
    sys::say("the archive could not take the last records at exit; the ring file " + ring->path() +
             " is kept for recovery (the next start of the app, or `logcat recover`, archives it)");
  }
}

void set_level(std::string_view tag, Level level) {
  core::Logger& l = core::g();
  std::lock_guard lock(l.mutex);
  std::erase_if(l.levels.tags, [tag](const auto& entry) { return entry.first == tag; });
  l.levels.tags.emplace_back(std::string(tag), level);
  core::apply_levels_locked();
}

void set_level(Level level) {
  core::Logger& l = core::g();
  std::lock_guard lock(l.mutex);
  l.levels.default_level = level;
  core::apply_levels_locked();
}

std::string set_levels(std::string_view spec) {
  core::LevelSpec parsed;
  std::string error;
  if (!core::parse_level_spec(spec, parsed, error)) return error;
  core::Logger& l = core::g();
  std::lock_guard lock(l.mutex);
  l.levels = std::move(parsed);
  core::apply_levels_locked();
  return {};
}

std::string set_rate_limits(std::string_view spec) {
  core::RateSpec parsed;
  std::string error;
  if (!core::parse_rate_spec(spec, parsed, error)) return error;
  core::Logger& l = core::g();
  std::lock_guard lock(l.mutex);
  l.rates = std::move(parsed);
  core::apply_rates_locked();
  return {};
}

std::string rate_limits() {
  core::Logger& l = core::g();
  std::lock_guard lock(l.mutex);
  return core::rate_spec_text(l.rates);
}

std::string dump(const std::string& path) {
  ring::RingMemory* ring = core::current_ring();
  if (ring == nullptr) return "blackbox::dump: the logger has not started";
  crash::DumpPathRules rules;
  rules.replace_own_file = true;
  {
    core::Logger& l = core::g();
    std::lock_guard lock(l.mutex);
    rules.forbidden_dirs = {l.config.dir, l.config.archive_dir};
    rules.app =
        ring::sanitize_app(l.config.app.empty() ? program_invocation_short_name : l.config.app);
  }
  std::string absolute = path;
  if (!path.empty() && path.front() != '/') {  // relative to the working directory
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == nullptr) return "blackbox::dump: no working directory";
    absolute = std::string(cwd) + "/" + path;
  }
  return crash::dump_to_path(*ring, absolute, rules);
}

std::string ring_path() {
  ring::RingMemory* ring = core::current_ring();
  return ring == nullptr ? std::string() : ring->path();
}

bool flush(FlushTo to) {
  core::Logger& l = core::g();
  if (core::current_ring() == nullptr) return true;  // nothing logged yet
  archive::Flusher* flusher = l.flusher.load(std::memory_order_acquire);
  return flusher != nullptr && flusher->flush(to == FlushTo::disk);
}

std::string archive_path() {
  archive::Flusher* flusher = core::g().flusher.load(std::memory_order_acquire);
  return flusher == nullptr ? std::string() : flusher->current_file();
}

Stats stats() {
  core::Logger& l = core::g();
  Stats s;
  s.dropped_no_slot = l.dropped_without_ring.load(std::memory_order_relaxed);
  s.dropped_after_exit = l.dropped_after_exit.load(std::memory_order_relaxed);
  if (ring::RingMemory* ring = core::current_ring(); ring != nullptr) {
    const ring::RingHeader& h = ring->header();
    s.threads_attached = h.threads_attached.load(std::memory_order_relaxed);
    s.dropped_no_slot += h.dropped_no_slot.load(std::memory_order_relaxed);
    s.dropped_after_exit += h.dropped_after_exit.load(std::memory_order_relaxed);
    s.sites_dropped = h.sites_dropped.load(std::memory_order_relaxed);
    s.dropped_site_table_full = h.dropped_site_table_full.load(std::memory_order_relaxed);
    s.anonymous_ring = ring->path().empty();
  }
  if (archive::Flusher* f = l.flusher.load(std::memory_order_acquire); f != nullptr) {
    f->add_stats(s);
  }
  if (core::Console* c = l.console.load(std::memory_order_acquire); c != nullptr) c->add_stats(s);
  s.dumps_written = l.dumps_written.load(std::memory_order_relaxed);
  const ring::WaitTotals waits = ring::wait_totals();
  s.producer_waits = waits.waits;
  s.producer_wait_ns = waits.wait_ns;
  s.producer_gave_up = waits.gave_up;
  s.dropped_site_table_full += l.dropped_site_table_full.load(std::memory_order_relaxed);
  s.rate_limited = core::rate_limited_total();
  return s;
}

}  // namespace blackbox
