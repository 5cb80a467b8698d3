// Ring dumps: a copy of a live ring file, taken without stopping its writers. The copy has
// the ring file's own format (docs/format.md), so every reader reads it; it is named
// `*.bbd` so that recovery never takes it for a dead process's ring.
//
// Used by the crash handler (Config::crash_dir), by blackbox::dump() and by the flusher
// when the dump signal arrives. Async-signal-safe: syscalls and loads only, no allocation.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace blackbox::ring {
class RingMemory;
}

namespace blackbox::crash {

// Writes a snapshot of `ring` into `fd` (an empty regular file; it becomes sparse where
// slots are unused). Returns 0 or the errno of the failure.
//
// Consistency, per slot: its write position W is read first, and the copy claims only
// [window_start(W), W), copied oldest first in pieces. A piece the writer overtook while it
// was copied (it claimed the blocks a lap later) may be torn: its blocks are marked
// invalid in the copy, and readers count their records as lost. The site table is copied
// after the slots, so every site a copied record names is defined in the copy.
[[nodiscard]] int write_ring_dump(const ring::RingMemory& ring, int fd) noexcept;

// Writes "<app>.<pid>.<suffix>.bbd" (this process's pid) into `out` (capacity `size`,
// NUL-terminated); false if it does not fit. `app` as sanitised for file names.
// Async-signal-safe.
bool dump_file_name(const char* app, const char* suffix, char* out, std::size_t size) noexcept;

// Where a dump named by a path may go. A path is someone's input (a control request's, or
// the program's): it must never be a way to hand the ring to another user (a file they
// created for us to fill), to stop the flusher (a FIFO), or to destroy (the ring file itself:
// SIGBUS and an empty ring; an archive file).
struct DumpPathRules {
  // Never a file in these directories (the ring and archive directories).
  std::vector<std::string> forbidden_dirs;
  // false (a control request): the file must be new (O_EXCL). true (blackbox::dump): an
  // existing regular file of our own, with no other link, is replaced.
  bool replace_own_file = false;
  // A path that names a directory gets "<app>.<pid>.<UTC time>.bbd" in it (always new).
  std::string app;
};

// Writes a dump of `ring` into the regular file at `path` (absolute; or a generated name in
// it when it is a directory), mode 0600, opened O_NOFOLLOW|O_NONBLOCK relative to its
// directory (resolved once, then checked through the open descriptor). Never blocks on the
// path (a FIFO is refused). Returns "" (and the file's path in `written`) or why not.
[[nodiscard]] std::string dump_to_path(const ring::RingMemory& ring, const std::string& path,
                                       const DumpPathRules& rules, std::string* written = nullptr);

// Writes a dump into `dir` (created 0700 if missing) as `<app>.<pid>.<UTC time>.bbd`.
// Returns the path, or "" with `error` set.
[[nodiscard]] std::string dump_to_dir(const ring::RingMemory& ring, const std::string& dir,
                                      const std::string& app, std::string& error);

// The dump signal (Config::dump_signal): its handler notes the request and wakes the
// flusher, which takes it (take_dump_request) and writes the dump. install_dump_signal()
// installs the handler, unless the signal is one the crash handler needs
// (is_reserved_signal): then it installs nothing and says why (empty: installed). Config's
// validate() refuses those signals too; this is the last line, on every path.
[[nodiscard]] std::string install_dump_signal(int signal);
[[nodiscard]] bool take_dump_request() noexcept;

}  // namespace blackbox::crash
