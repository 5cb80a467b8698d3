// Crash handlers: on SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT (and std::terminate, through
// SIGABRT) write a crash report into the ring file's header page, mark the ring crashed,
// then hand the signal to the handler that was there before (or the default action), so
// the process still dies of the same signal and dumps core. The records themselves need no
// copying: the ring file is shared memory and outlives the process.
//
// The handler is async-signal-safe: no malloc, no locks, no stdio, no fmt. It runs on an
// alternate signal stack (every thread that logs gets one), so a stack overflow is reported
// too. The first crashing thread writes the report; another thread crashing meanwhile
// waits for it (at most about a second), and alarm() bounds the whole handler.
#pragma once

#include <cstdint>
#include <string>

namespace blackbox::ring {
class RingMemory;
}

namespace blackbox::crash {

// Installs the handlers (once per process; later calls only change the ring). Warms up
// what is not async-signal-safe on first use (backtrace()). With a `crash_dir`, the handler
// also writes a dump there (`<app>.<pid>.crash.bbd`; `app` as in file names).
void install(ring::RingMemory* ring, const std::string& crash_dir, const std::string& app);

// The signals the crash handler reports (SEGV, BUS, ILL, FPE, ABRT), and SIGALRM, its
// watchdog should the handler hang: none of them may ever be given another handler (the dump
// signal: a dump handler on SIGSEGV returns into the fault, which repeats forever).
[[nodiscard]] bool is_reserved_signal(int signal) noexcept;

// The ring reports go to (null: none, e.g. after shutdown or in a forked child until it
// has its own ring).
void set_ring(ring::RingMemory* ring) noexcept;

// Gives the calling thread an alternate signal stack unless it has one; and takes back the
// one it gave, at thread exit.
void ensure_alt_stack() noexcept;
void release_alt_stack() noexcept;

// Reads the module map again if modules were loaded or unloaded since (dlopen): the
// flusher thread calls it once per pass. Not in a signal handler.
void refresh_module_map();

// Called by the reporting thread first thing in the handler, before the report: core's drain
// of captured stdout and stderr (the lines a program wrote just before it crashed). Must be
// async-signal-safe and bounded in time. Null: none.
void set_before_report(void (*hook)() noexcept) noexcept;

// What the reporting thread tells the hook that runs after the report.
struct CrashNotice {
  int signal = 0;
  std::uint32_t tid = 0;      // the crashing thread
  char thread_name[16] = {};  // its name (prctl), NUL-terminated
  bool terminate = false;     // std::terminate (an uncaught exception) raised the SIGABRT
};

// Called by the reporting thread once the report is written (and the crash dump, if any),
// before the signal goes on to the previous handler: core's last console lines and the line
// that says where the post-mortem is. Must be async-signal-safe and bounded in time (the
// handler's alarm() ends the process after 5 s in all). Null: none.
void set_after_report(void (*hook)(const CrashNotice&) noexcept) noexcept;

// Tests only: `fault` runs inside the handler while it writes the report (to check that a
// crash of the handler itself ends the process rather than hanging it).
void set_fault_in_handler_for_testing(void (*fault)()) noexcept;

}  // namespace blackbox::crash
