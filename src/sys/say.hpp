// Telling the operator something: one line on stderr, "blackbox: " first. Used by every
// layer for what a person must know (a fallback, a refused directory, a full disk).
#pragma once

#include <string>

namespace blackbox::sys {

// One line, one write(): readable even when several processes share the terminal. Not
// async-signal-safe (it allocates); thread-safe.
void say(const std::string& message);

}  // namespace blackbox::sys
