// Test support: each test process logs into a ring directory of its own, so tests never
// share files and can run in parallel.
#pragma once

#include <string>
#include <vector>

#include "blackbox/reader.hpp"
#include "sys/sanitizers.hpp"

namespace blackbox::test {

// The sanitizer this test binary was built with (sys/sanitizers.hpp): for the tests whose
// subject its runtime takes over.
#if defined(BLACKBOX_TSAN)
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif
#if defined(BLACKBOX_ASAN)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif

// The per-process directory (created by test_main before any test runs).
const std::string& test_dir();

// Creates a fresh empty directory under the test directory.
std::string make_temp_dir(const std::string& name);

// Reads everything in this process's ring into a vector (in per-slot order).
std::vector<Record> read_own_ring(std::vector<Loss>* losses = nullptr);

// Path of a helper program built next to the tests (BBX_TEST_HELPER).
std::string helper_path();

// Runs a command, returns its exit status and everything it wrote to stdout and stderr.
struct RunResult {
  int status = -1;
  std::string out;
};
RunResult run_helper(const std::vector<std::string>& args,
                     const std::vector<std::string>& env = {});
// The same for any program (`program`: its path).
RunResult run_program(const std::string& program, const std::vector<std::string>& args,
                      const std::vector<std::string>& env = {});

// `env` plus ASAN_OPTIONS and TSAN_OPTIONS as they are, with the sanitizer's own SIGSEGV
// handler off ("NAME=...:handle_segv=0"): for a child that must crash into blackbox's handler.
std::vector<std::string> let_segv_through(std::vector<std::string> env = {});

// A loopback TCP port free now, below the ephemeral range (so no client connect() takes it
// while its server restarts), for a server that cannot say which one
// it got (Prometheus, ClickHouse); -1 if none could be had.
int free_loopback_port();

// What `command` (run by /bin/sh, through popen) writes on stdout; "" if it cannot start.
std::string command_output(const std::string& command);

// `text` split at its newlines.
std::vector<std::string> lines_of(const std::string& text);

// The same with stdout and stderr apart (both read as they come: neither pipe fills).
struct SplitResult {
  int status = -1;
  std::string out, err;
};
SplitResult run_split(const std::string& program, const std::vector<std::string>& args,
                      const std::vector<std::string>& env = {});

}  // namespace blackbox::test
