// The tools map live ring files to follow them. If a file is truncated while mapped (by its
// writer, or by anyone else allowed to write it), touching the lost pages raises SIGBUS;
// this turns that into a clear error and exit status 1 instead of a crash with a core dump.
// (Rings no writer holds are read with pread() and never fault: format/ring_image.hpp.)
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cstring>

namespace blackbox::tools {

inline void install_truncation_guard(const char* program) {
  static char message[160];
  const char* tail =
      ": a ring file was truncated while it was being read (by its writer, or by someone "
      "allowed to write it); stopping\n";
  std::strncpy(message, program, 40);
  std::strncat(message, tail, sizeof message - std::strlen(message) - 1);
  struct sigaction action {};
  action.sa_handler = [](int) {
    [[maybe_unused]] const ssize_t n = write(STDERR_FILENO, message, std::strlen(message));
    _exit(1);
  };
  sigaction(SIGBUS, &action, nullptr);
}

}  // namespace blackbox::tools
