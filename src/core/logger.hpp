// The process-wide logger state behind the public API: the current ring, the configuration,
// the call-site registry and per-tag levels. Internal; tests may use it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/level_spec.hpp"
#include "format/control_area.hpp"
#include "ring/ring_memory.hpp"
#include "sys/say.hpp"

namespace blackbox::core {

// The ring this process writes to, starting the logger from the environment if needed.
// Null only if even an anonymous ring could not be mapped. Thread-safe.
[[nodiscard]] ring::RingMemory* started_ring() noexcept;

// The current ring without starting anything (null if not started). Thread-safe.
[[nodiscard]] ring::RingMemory* current_ring() noexcept;

// Changes the levels under the logger's mutex: `change` edits the level spec and the timed
// levels (core/control.cpp) and returns "" or why it changed nothing; then every site
// follows and the control area shows the result. Thread-safe.
[[nodiscard]] std::string change_levels(
    const std::function<std::string(LevelSpec&, std::vector<ring::TimedLevel>&)>& change);

using sys::say;

}  // namespace blackbox::core
