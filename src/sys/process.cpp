// Process identities from /proc (process.hpp).
#include "sys/process.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace blackbox::sys {
namespace {

// A small /proc file, NUL-terminated; false if it cannot be read.
bool read_small(const char* path, char* out, std::size_t size) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  std::size_t used = 0;
  while (used + 1 < size) {
    const ssize_t n = ::read(fd, out + used, size - 1 - used);
    if (n <= 0) break;
    used += static_cast<std::size_t>(n);
  }
  ::close(fd);
  out[used] = '\0';
  return used > 0;
}

}  // namespace

std::optional<ProcessIdentity> process_identity(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  char path[64], text[4096];
  ProcessIdentity id;
  std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(pid));
  if (!read_small(path, text, sizeof text)) return std::nullopt;
  const char* uid = std::strstr(text, "\nUid:");
  if (uid == nullptr) return std::nullopt;
  char* end = nullptr;
  (void)std::strtoul(uid + 5, &end, 10);                        // real
  id.uid = static_cast<uid_t>(std::strtoul(end, nullptr, 10));  // effective
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  if (!read_small(path, text, sizeof text)) return std::nullopt;
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; the fields follow
  // the last ')', each after a space: state (3) follows the first, starttime (22) the 20th.
  const char* rest = std::strrchr(text, ')');
  if (rest == nullptr) return std::nullopt;
  const char* field = rest + 1;  // the space before field 3
  for (int i = 0; i < 19 && field != nullptr; ++i) {
    field = std::strchr(field + 1, ' ');
  }
  if (field == nullptr) return std::nullopt;
  const unsigned long long ticks = std::strtoull(field + 1, nullptr, 10);
  const long hz = sysconf(_SC_CLK_TCK);
  const auto since_boot_ns = static_cast<std::int64_t>(
      ticks * (1'000'000'000ull / static_cast<unsigned long long>(hz > 0 ? hz : 100)));
  // Its age on the boot clock (the clock starttime counts on, in our time namespace), taken
  // from the wall clock now: /proc/stat's btime is not to be trusted (it follows every
  // change of the wall clock since boot, and not a namespace's offset).
  timespec boot{}, wall{};
  clock_gettime(CLOCK_BOOTTIME, &boot);
  clock_gettime(CLOCK_REALTIME, &wall);
  const std::int64_t boot_ns = std::int64_t{boot.tv_sec} * 1'000'000'000 + boot.tv_nsec;
  const std::int64_t wall_ns = std::int64_t{wall.tv_sec} * 1'000'000'000 + wall.tv_nsec;
  id.start_ns = wall_ns - (boot_ns - since_boot_ns);
  return id;
}

bool process_is(pid_t pid, uid_t uid, std::int64_t at_ns) {
  const std::optional<ProcessIdentity> id = process_identity(pid);
  return id && id->uid == uid && id->start_ns <= at_ns + 2'000'000'000;
}

}  // namespace blackbox::sys
