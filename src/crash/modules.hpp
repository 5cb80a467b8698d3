// The process's module map (executable and shared libraries: address ranges, load bias,
// build id, path) for the crash report, so stacks can be symbolised offline.
//
// capture_modules() reads it with dl_iterate_phdr() (which takes the loader's lock, so not
// in a signal handler): install() calls it, and refresh_modules() again when the loader
// says modules were loaded or unloaded since (the flusher asks once per pass). modules_for()
// then picks, in the handler, the modules a stack's frames fall in: async-signal-safe (it
// reads the published one of two tables; a refresh fills the other and then publishes it).
// Capture and refresh run in one thread at a time (install() under the logger's lock, then
// the flusher thread).
#pragma once

#include <cstdint>

#include "format/ring_layout.hpp"

namespace blackbox::crash {

void capture_modules();
void refresh_modules();

// Writes the modules that `frames` fall in (each once, at most `max`) into `out`; returns
// how many. Async-signal-safe; a copy that a refresh may have torn is taken again.
std::uint32_t modules_for(const std::uint64_t* frames, std::uint32_t frame_count,
                          ring::CrashModule* out, std::uint32_t max) noexcept;

// Tests only: `hook` runs once inside the next modules_for(), after its copy and before its
// check (to refresh the map twice there); and how many copies were taken again so far.
void set_between_copy_and_check_for_testing(void (*hook)()) noexcept;
[[nodiscard]] std::uint32_t module_copy_retries_for_testing() noexcept;

}  // namespace blackbox::crash
