// Who a process is, as the kernel says (/proc), not as a file or a request claims: a ring
// file names its pid, a control request its requester; either could be forged by another
// local user, and a pid can be reused.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace blackbox::sys {

struct ProcessIdentity {
  uid_t uid = 0;              // effective uid (/proc/PID/status, "Uid:" second field)
  std::int64_t start_ns = 0;  // when it started, wall clock (boot time + starttime)
};

// The identity of a running process; nullopt if there is none with that pid (or /proc
// cannot tell). Reads two small /proc files; no lock.
[[nodiscard]] std::optional<ProcessIdentity> process_identity(pid_t pid);

// Whether `pid` runs as `uid` and had started by `at_ns` (give or take the second that
// boot time is counted in): the process that created something at `at_ns`, not a later one
// that reused its pid nor another user's that a forged file names.
[[nodiscard]] bool process_is(pid_t pid, uid_t uid, std::int64_t at_ns);

}  // namespace blackbox::sys
