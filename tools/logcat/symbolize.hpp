// Symbolising a crash's stack (libdw, from Debian's libdw-dev): in logcat, never in the
// crash handler. Each frame's module comes from the crash report's module map; a module's
// file is used only if it is still on disk and has the build id the crashed process had.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "blackbox/reader.hpp"

namespace logcat {

struct Frame {
  std::uint64_t address = 0;
  std::string function;  // demangled; "" if unknown
  std::uint64_t function_offset = 0;
  std::string file;  // source file; "" if no line information
  int line = 0;
  // The module it falls in ("" if none): its path and build id, and the address as an
  // offset into its file (ELF virtual address), which is what addr2line and debuginfod
  // tools take together with the build id.
  std::string module;
  std::string build_id;
  std::uint64_t module_offset = 0;
  bool module_found = false;  // its file is on disk with the same build id
};

// Whether symbolize() may open the modules' files (default: yes). Off (`logcat
// --no-symbols`), frames show their module, build id and offset only: the same output on
// any machine, whatever files it has.
void set_read_module_files(bool read) noexcept;

// The crashed code's frames, innermost first: the crash handler's own frames (those before
// the interrupted instruction, CrashInfo::pc) are left out.
[[nodiscard]] std::vector<Frame> symbolize(const blackbox::CrashInfo& crash);

}  // namespace logcat
