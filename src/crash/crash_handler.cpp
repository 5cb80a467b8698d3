// Crash handlers (crash_handler.hpp). Everything the signal handler calls is
// async-signal-safe: syscalls (sigaction, raise, clock_gettime, prctl, nanosleep, alarm; and
// in core's after-report hook, futex through wake_flusher_now() and write),
// memcpy/memset, lock-free atomics, the dump writer (pwrite, crash/dump.hpp), and
// backtrace(), which is only safe once libgcc_s is loaded: install() calls it once first.
//
// Memory ordering:
//  - g_ring: release in set_ring() (the ring is complete before its pointer), acquire in the
//    handler.
//  - g_reporter: acq_rel CAS; the first crashing thread wins and writes the report. Others
//    wait for g_report_done (release by the reporter after the report, acquire by them).
//  - The report in the ring file: every field but the magic, a release fence, then the
//    magic (a reader that sees the magic sees the rest); then the header's state, release
//    (a reader that sees "crashed" sees the report). Readers: format/ring_layout.hpp.
//  - g_have_exception: release by the terminate handler after g_exception is written,
//    acquire in the signal handler that follows on the same thread (abort()).
//  - The module map: modules.cpp (a fill count makes the double buffer a seqlock).
//  - g_installed: set once, with exchange (seq_cst), by install() under the logger's lock;
//    acquire in refresh_module_map() (the flusher thread) so the first capture happened
//    before any refresh; relaxed in ensure_alt_stack(), where a thread that misses it only
//    goes without an alternate stack until its next first record.
//  - g_reported_signal: relaxed, written and read by the reporting thread only.
//  - g_other_threads, g_fault_in_handler: counters and a test hook, relaxed; so are the
//    hooks g_before_report and g_after_report (set long before any crash they serve).
//  - g_crash_dir, g_app, g_previous: written by install() before the handlers are installed
//    (sigaction orders them), only read afterwards.
#include "crash/crash_handler.hpp"

#include <cxxabi.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <typeinfo>

#include "blackbox/detail/probes.hpp"
#include "blackbox/detail/producer.hpp"
#include "crash/dump.hpp"
#include "crash/modules.hpp"
#include "format/ring_layout.hpp"
#include "ring/ring_memory.hpp"
#include "sys/clock.hpp"
#include "sys/dirs.hpp"
#include "sys/say.hpp"

namespace blackbox::crash {
namespace {

constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
constexpr std::size_t kGuardBytes = 4096;
constexpr std::size_t kAltStackBytes = 64 * 1024;  // the handler needs ~2 KiB of it

// The ring reports go to. Acquire in the handler: the ring is complete before its pointer.
std::atomic<ring::RingMemory*> g_ring{nullptr};
// The crash directory (an open descriptor: no path to build in the handler), or -1; and the
// app's name as in file names. Written by install() before the handlers are; then only read.
int g_crash_dir = -1;
char g_app[64] = "app";
std::atomic<bool> g_installed{false};
// The handlers that were there before ours, by signal: written once, before ours are
// installed, and only read afterwards.
struct sigaction g_previous[NSIG];
std::terminate_handler g_previous_terminate = nullptr;

// What std::terminate learnt of the exception, for the SIGABRT handler that runs next.
char g_exception[sizeof(ring::CrashReport::exception)];
std::atomic<bool> g_have_exception{false};

// The thread writing the report (0: none yet). The first crashing thread wins.
std::atomic<std::uint32_t> g_reporter{0};
// The signal it reports: a fault inside the handler ends the process with this one.
// Written by the reporter before anything that could fault, read only by the same thread.
std::atomic<int> g_reported_signal{0};
std::atomic<bool> g_report_done{false};
std::atomic<std::uint32_t> g_other_threads{0};

// Tests only: called in the middle of writing the report, to crash the handler itself.
std::atomic<void (*)()> g_fault_in_handler{nullptr};

thread_local void* t_alt_stack = nullptr;  // the alternate stack ensure_alt_stack() mapped

std::uint32_t current_tid() { return static_cast<std::uint32_t>(syscall(SYS_gettid)); }

// The crash directory's copy of the ring, report included.
void write_crash_dump(const ring::RingMemory& ring) {
  if (g_crash_dir < 0) return;
  char name[128];
  if (!dump_file_name(g_app, "crash", name, sizeof name)) return;
  const int fd =
      openat(g_crash_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;
  (void)write_ring_dump(ring, fd);
  close(fd);
}

// The handler that was there before ours gets the signal once ours returns: the signal
// is blocked while a handler runs, so raise() leaves it pending until then. A fault
// re-executes the faulting instruction anyway; abort() raises SIGABRT again.
void hand_over(int sig) {
  sigaction(sig, &g_previous[sig], nullptr);
  raise(sig);
}

// A fault inside the handler (another signal than the one it handles: the same one is
// blocked, and the kernel kills with it): the process ends now, of the signal the handler
// was reporting, by its default action. No previous handler runs (it could return into the
// fault), nothing more is written (at most one dump per crash).
[[noreturn]] void die_of(int sig) {
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigaction(sig, &action, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  raise(sig);
  _exit(128 + sig);  // not reached: every crash signal's default action ends the process
}

void write_report(int sig, const siginfo_t* info, const void* context, std::uint32_t tid,
                  std::int64_t start_ns) {
  ring::RingMemory* ring = g_ring.load(std::memory_order_acquire);
  if (ring == nullptr) return;
  ring::CrashReport r;  // on the alternate stack
  std::memset(&r, 0, sizeof r);
  r.fixed_bytes = sizeof r;
  r.handler_start_ns = start_ns;
#if defined(__x86_64__)
  if (context != nullptr) {
    r.context_pc = static_cast<std::uint64_t>(
        static_cast<const ucontext_t*>(context)->uc_mcontext.gregs[REG_RIP]);
  }
#elif defined(__aarch64__)
  if (context != nullptr) r.context_pc = static_cast<const ucontext_t*>(context)->uc_mcontext.pc;
#else
  (void)context;
#endif
  r.signal = sig;
  r.code = info->si_code;
  r.tid = tid;
  // si_addr means something only for a fault the kernel raised (si_code > 0); a signal
  // sent by kill() or raise() (abort) has the sender's pid in that place.
  r.fault_address = info->si_code > 0 ? reinterpret_cast<std::uintptr_t>(info->si_addr) : 0;
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  r.time_ns = std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
  prctl(PR_GET_NAME, r.thread_name);  // 16 bytes, NUL-terminated
  if (g_have_exception.load(std::memory_order_acquire)) {
    std::memcpy(r.exception, g_exception, sizeof r.exception);
    r.flags |= ring::kCrashFlagTerminate;
  }
  // The request it was serving: this thread's trace context (its own thread-local state,
  // initial-exec TLS: no allocation, no lock; a fault or abort() runs the handler on the
  // thread that caused it).
  if (const detail::Producer& p = detail::tls_producer; p.trace_bytes != 0) {
    std::memcpy(r.trace_id, p.trace, sizeof r.trace_id);
    std::memcpy(r.span_id, p.trace + sizeof r.trace_id, sizeof r.span_id);
    r.flags |= ring::kCrashFlagTrace;
  }
  void* frames[ring::kCrashFrames];
  const int n = backtrace(frames, static_cast<int>(ring::kCrashFrames));
  for (int i = 0; i < n; ++i) r.frames[i] = reinterpret_cast<std::uintptr_t>(frames[i]);
  r.frame_count = n > 0 ? static_cast<std::uint32_t>(n) : 0;
  if (auto* fault = g_fault_in_handler.load(std::memory_order_relaxed); fault != nullptr) fault();
  r.other_threads = g_other_threads.load(std::memory_order_relaxed);
  auto* out = reinterpret_cast<char*>(ring->base() + ring::kCrashOffset);
  // The modules the frames fall in, straight into the page after the report.
  r.module_count =
      modules_for(r.frames, r.frame_count,
                  reinterpret_cast<ring::CrashModule*>(ring->base() + ring::kCrashModulesOffset),
                  ring::kCrashModules);
  // Everything but the magic, then (release) the magic: a reader that sees the magic sees
  // the rest.
  std::memcpy(out + sizeof r.magic, reinterpret_cast<const char*>(&r) + sizeof r.magic,
              sizeof r - sizeof r.magic);
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(out, ring::kCrashMagic, sizeof r.magic);
  // Release: the report before the state that says there is one.
  ring->header().state.store(static_cast<std::uint32_t>(ring::ProcessState::crashed),
                             std::memory_order_release);
  write_crash_dump(*ring);
  const std::int64_t end_ns = sys::monotonic_ns();
  std::memcpy(out + offsetof(ring::CrashReport, handler_end_ns), &end_ns, sizeof end_ns);
}

// Relaxed is enough for a function pointer set once, long before any crash it serves.
std::atomic<void (*)() noexcept> g_before_report{nullptr};
std::atomic<void (*)(const CrashNotice&) noexcept> g_after_report{nullptr};

void on_crash(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  const std::int64_t start_ns = sys::monotonic_ns();
  const std::uint32_t tid = current_tid();
  std::uint32_t reporter = 0;
  if (g_reporter.compare_exchange_strong(reporter, tid, std::memory_order_acq_rel)) {
    g_reported_signal.store(sig, std::memory_order_relaxed);
    alarm(5);  // should anything below hang, SIGALRM ends the process
    if (BBX_PROBE_ENABLED(crash)) {
      // USDT blackbox:crash (docs/tracing.md): signal, faulting address, thread; before the
      // report, so a tracer sees it even if the report cannot be written.
      const std::uint64_t signal = static_cast<std::uint64_t>(sig);
      const std::uint64_t address =
          info != nullptr ? reinterpret_cast<std::uintptr_t>(info->si_addr) : 0;
      const std::uint64_t thread = tid;
      BBX_PROBE(crash, signal, address, thread);
    }
    if (auto* hook = g_before_report.load(std::memory_order_relaxed); hook != nullptr) hook();
    write_report(sig, info, context, tid, start_ns);
    // Release: a thread crashing meanwhile may hand over (and end the process) from here on;
    // the report is complete. What follows only shows things on the terminal.
    g_report_done.store(true, std::memory_order_release);
    if (auto* hook = g_after_report.load(std::memory_order_relaxed); hook != nullptr) {
      CrashNotice notice;
      notice.signal = sig;
      notice.tid = tid;
      prctl(PR_GET_NAME, notice.thread_name);
      notice.terminate = g_have_exception.load(std::memory_order_acquire);
      hook(notice);
    }
    alarm(0);
  } else if (reporter != tid) {
    // Another thread crashed first and is writing the report: give it up to a second,
    // then die the same way (its hand-over usually ends the process first).
    g_other_threads.fetch_add(1, std::memory_order_relaxed);
    for (int i = 0; i < 1000 && !g_report_done.load(std::memory_order_acquire); ++i) {
      timespec ms{0, 1'000'000};
      nanosleep(&ms, nullptr);
    }
  } else {
    // A crash inside our own handler (of another signal: the same one is blocked).
    die_of(g_reported_signal.load(std::memory_order_relaxed));
  }
  hand_over(sig);
  errno = saved_errno;
}

// Appends `text` to g_exception (cut to fit, NUL-terminated).
void add_exception_text(std::size_t& used, const char* text) {
  while (*text != '\0' && used + 1 < sizeof g_exception) g_exception[used++] = *text++;
  g_exception[used] = '\0';
}

// std::terminate: note the exception's type and what() for the crash report, then let the
// previous terminate handler (which prints it and calls abort()) carry on.
[[noreturn]] void on_terminate() {
  if (std::exception_ptr current = std::current_exception()) {
    std::size_t used = 0;
    if (const std::type_info* type = abi::__cxa_current_exception_type()) {
      int status = 0;
      char* name = abi::__cxa_demangle(type->name(), nullptr, nullptr, &status);
      add_exception_text(used, status == 0 && name != nullptr ? name : type->name());
      std::free(name);
    }
    try {
      std::rethrow_exception(current);
    } catch (const std::exception& e) {
      add_exception_text(used, ": ");
      add_exception_text(used, e.what());
    } catch (...) {
    }
    g_have_exception.store(true, std::memory_order_release);
  }
  if (g_previous_terminate != nullptr) g_previous_terminate();
  std::abort();
}

}  // namespace

bool is_reserved_signal(int signal) noexcept {
  for (const int sig : kSignals) {
    if (sig == signal) return true;
  }
  return signal == SIGALRM;
}

void set_before_report(void (*hook)() noexcept) noexcept {
  g_before_report.store(hook, std::memory_order_relaxed);
}

void set_after_report(void (*hook)(const CrashNotice&) noexcept) noexcept {
  g_after_report.store(hook, std::memory_order_relaxed);
}

void set_fault_in_handler_for_testing(void (*fault)()) noexcept {
  g_fault_in_handler.store(fault, std::memory_order_relaxed);
}

void refresh_module_map() {
  if (g_installed.load(std::memory_order_acquire)) refresh_modules();
}

void set_ring(ring::RingMemory* ring) noexcept { g_ring.store(ring, std::memory_order_release); }

void install(ring::RingMemory* ring, const std::string& crash_dir, const std::string& app) {
  set_ring(ring);
  if (g_installed.exchange(true)) return;
  std::snprintf(g_app, sizeof g_app, "%s", app.c_str());
  if (!crash_dir.empty()) {
    // Ours and writable by no one else, or another user could swap the dump for a link.
    std::string error;
    g_crash_dir = sys::open_private_dir(crash_dir, 0700, false, error);
    if (g_crash_dir < 0) {
      sys::say("crash directory: " + error + "; crashes are recorded in the ring file only");
    }
  }
  // backtrace() loads libgcc_s (malloc, locks) on its first call: make that call now. The
  // module map needs the loader's lock: read it now too.
  void* warm[4];
  (void)backtrace(warm, 4);
  capture_modules();
  struct sigaction action {};
  action.sa_sigaction = on_crash;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  for (const int sig : kSignals) sigaction(sig, &action, &g_previous[sig]);
  g_previous_terminate = std::set_terminate(on_terminate);
  ensure_alt_stack();
}

void ensure_alt_stack() noexcept {
  if (t_alt_stack != nullptr || !g_installed.load(std::memory_order_relaxed)) return;
  stack_t current{};
  if (sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE) == 0) {
    return;  // the thread has one of its own (or a sanitizer's)
  }
  void* memory = mmap(nullptr, kGuardBytes + kAltStackBytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return;
  mprotect(memory, kGuardBytes, PROT_NONE);  // an overflow of the handler faults, not corrupts
  stack_t stack{};
  stack.ss_sp = static_cast<char*>(memory) + kGuardBytes;
  stack.ss_size = kAltStackBytes;
  if (sigaltstack(&stack, nullptr) != 0) {
    munmap(memory, kGuardBytes + kAltStackBytes);
    return;
  }
  t_alt_stack = memory;
}

void release_alt_stack() noexcept {
  if (t_alt_stack == nullptr) return;
  stack_t off{};
  off.ss_flags = SS_DISABLE;
  sigaltstack(&off, nullptr);
  munmap(t_alt_stack, kGuardBytes + kAltStackBytes);
  t_alt_stack = nullptr;
}

}  // namespace blackbox::crash
