// Ring dumps: a copy of a live ring file, taken without stopping its writers. The copy has
// the ring file's own format (docs/format.md), so every reader reads it; it is named
// `*.bbd` so that recovery never takes it for a dead process's ring.
//
// Used by the crash handler (Config::crash_dir), by blackbox::dump() and by the flusher
// when the dump signal arrives. Async-signal-safe: syscalls and loads only, no allocation.
#pragma once

#include <cstddef>
#include <string>

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

// Writes a dump of `ring` into a new file at `path` (mode 0600; an existing file is
// replaced, a symbolic link is not followed). Returns "" or what went wrong.
[[nodiscard]] std::string dump_to_path(const ring::RingMemory& ring, const std::string& path);

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
