// The process-wide logger state behind the public API: the current ring, the configuration,
// the call-site registry and per-tag levels. Internal; tests may use it.
#pragma once

#include <string>

#include "ring/ring_memory.hpp"
#include "sys/say.hpp"

namespace blackbox::core {

// The ring this process writes to, starting the logger from the environment if needed.
// Null only if even an anonymous ring could not be mapped. Thread-safe.
[[nodiscard]] ring::RingMemory* started_ring() noexcept;

// The current ring without starting anything (null if not started). Thread-safe.
[[nodiscard]] ring::RingMemory* current_ring() noexcept;

using sys::say;

}  // namespace blackbox::core
