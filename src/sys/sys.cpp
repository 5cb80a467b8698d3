#include "sys/sys.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys/clock.hpp"

namespace blackbox::sys {
namespace {

int real_open(const char* path, int flags, mode_t mode) { return ::open(path, flags, mode); }
int real_openat(int dir_fd, const char* path, int flags, mode_t mode) {
  return ::openat(dir_fd, path, flags, mode);
}

ssize_t raw_pwrite(int fd, const void* data, std::size_t bytes, off_t offset) {
  return static_cast<ssize_t>(syscall(SYS_pwrite64, fd, data, bytes, offset));
}

std::int64_t real_rate_clock_ns() { return monotonic_ns(); }

Calls real_calls() noexcept {
  return Calls{real_open, ::mkdir,     ::ftruncate, ::posix_fallocate, ::mmap,
               ::write,   real_openat, raw_pwrite,  ::fdatasync,       real_rate_clock_ns};
}

Calls g_calls = real_calls();

}  // namespace

Calls& calls() noexcept { return g_calls; }
bool real_rate_clock() noexcept { return g_calls.rate_clock_ns == real_rate_clock_ns; }
void reset_calls() noexcept { g_calls = real_calls(); }

}  // namespace blackbox::sys
