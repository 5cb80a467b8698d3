// Ring dumps (dump.hpp).
//
// Memory ordering: a slot's write position is loaded with acquire (pairs with the
// producer's release in commit()/reserve_slow(): the bytes below it are written before we
// copy them); after each piece of the copy, an acquire fence and a second load tell which
// blocks the writer may have claimed meanwhile (the seqlock reader protocol of
// slot_drain.hpp, with the kernel's copy in pwrite() in place of ours).
#include "crash/dump.hpp"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "crash/crash_handler.hpp"
#include "format/file_names.hpp"
#include "format/ring_layout.hpp"
#include "format/slot_drain.hpp"
#include "ring/ring_memory.hpp"
#include "ring/wake.hpp"
#include "sys/calendar.hpp"
#include "sys/clock.hpp"
#include "sys/dirs.hpp"
#include "sys/sys.hpp"

namespace blackbox::crash {
namespace {

// Writes all of [data, data + size) at `offset`. 0 or errno.
//
// The kernel copies ring memory that writers may be changing at that moment; what it may
// copy torn is discarded (copy_slot). Through the system-call seam (sys::Calls::pwrite, the
// raw system call: see there why), so tests can inject ENOSPC and short writes.
int write_at(int fd, const void* data, std::uint64_t size, std::uint64_t offset) noexcept {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = sys::calls().pwrite(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n == 0 ? EIO : errno;
    p += n;
    size -= static_cast<std::uint64_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return 0;
}

std::size_t append(char* out, std::size_t at, std::size_t size, const char* text) noexcept {
  while (*text != '\0' && at + 1 < size) out[at++] = *text++;
  return *text == '\0' ? at : size;  // size: did not fit
}

// Copies slot `i`'s window in stream order, oldest first, in pieces: a piece is intact if,
// once it is written, the writer has not yet claimed the blocks a lap after it. Copying
// from the oldest end keeps ahead of a writer slower than the copy; blocks a faster one
// overtook get a zero header in the copy, which readers count as lost.
int copy_slot(const ring::RingMemory& ring, std::uint32_t i, int fd) noexcept {
  const ring::Layout& layout = ring.layout();
  const ring::SlotHeader& slot = ring.slot_header(i);
  // Acquire: the bytes below w are written (the producer's release).
  const std::uint64_t w = slot.write_pos.load(std::memory_order_acquire);
  if (w == 0 || w > ring::kMaxStreamPosition) return 0;
  const std::uint64_t block = layout.block_bytes;
  const std::uint64_t mask = layout.ring_bytes - 1;
  const std::uint64_t piece =
      std::max(block, std::min<std::uint64_t>(256u << 10, layout.ring_bytes / 8));
  const std::uint64_t slot_offset = layout.slot_data_offset + std::uint64_t{i} * layout.ring_bytes;
  const std::byte* data = ring.slot_data(i);
  for (std::uint64_t p = ring::window_start(w, layout.ring_bytes, block); p < w;) {
    // Up to the piece's end, the stream's end, and the ring's end (no wrap within a write).
    const std::uint64_t end =
        std::min({(p / piece + 1) * piece, w, p - (p & mask) + layout.ring_bytes});
    if (const int err = write_at(fd, data + (p & mask), end - p, slot_offset + (p & mask));
        err != 0) {
      return err;
    }
    // Pairs with the release fence after a claim in reserve_slow(): a claim that overwrote
    // any byte we copied is visible here.
    std::atomic_thread_fence(std::memory_order_acquire);
    const std::uint64_t now = slot.write_pos.load(std::memory_order_relaxed);
    const std::uint64_t torn_end = std::min(ring::window_start(now, layout.ring_bytes, block), end);
    const ring::BlockHeader invalid{};
    for (std::uint64_t b = p & ~(block - 1); b < torn_end; b += block) {
      if (const int err = write_at(fd, &invalid, sizeof invalid, slot_offset + (b & mask));
          err != 0) {
        return err;
      }
    }
    p = end;
  }
  // The copy holds the stream up to w: that is its write position.
  return write_at(fd, &w, sizeof w, layout.slot_headers_offset + std::uint64_t{i} * sizeof slot);
}

}  // namespace

int write_ring_dump(const ring::RingMemory& ring, int fd) noexcept {
  const ring::Layout& layout = ring.layout();
  if (sys::calls().ftruncate(fd, static_cast<off_t>(layout.file_bytes)) != 0) return errno;
  // The slot headers as they are (state, tid, sequence numbers); each used slot's write
  // position is then replaced by the one its copy was taken at.
  const std::uint64_t headers_bytes = std::uint64_t{layout.slot_count} * sizeof(ring::SlotHeader);
  if (const int err = write_at(fd, &ring.slot_header(0), headers_bytes, layout.slot_headers_offset);
      err != 0) {
    return err;
  }
  // On a disk filesystem, allocating the extents first makes the copy about a third faster
  // (ext4 here: 64 MiB in 10.5 ms instead of 14.5, the fallocate included). Not on tmpfs,
  // where it would zero every page before the copy overwrites it.
  struct statfs fs {};
  if (fstatfs(fd, &fs) == 0 && fs.f_type != TMPFS_MAGIC) {
    for (std::uint32_t i = 0; i < layout.slot_count; ++i) {
      const std::uint64_t w = ring.slot_header(i).write_pos.load(std::memory_order_relaxed);
      if (w == 0 || w > ring::kMaxStreamPosition) continue;
      (void)fallocate(
          fd, FALLOC_FL_KEEP_SIZE,
          static_cast<off_t>(layout.slot_data_offset + std::uint64_t{i} * layout.ring_bytes),
          static_cast<off_t>(std::min(w, layout.ring_bytes)));
    }
  }
  for (std::uint32_t i = 0; i < layout.slot_count; ++i) {
    if (const int err = copy_slot(ring, i, fd); err != 0) return err;
  }
  // The site table after the slots: every site a copied record names was defined before
  // the record, so it is in this copy.
  const ring::RingHeader& live = ring.header();
  const std::uint64_t used = std::min<std::uint64_t>(
      live.site_table_used.load(std::memory_order_acquire), layout.site_table_bytes);
  if (const int err =
          write_at(fd, ring.base() + layout.site_table_offset, used, layout.site_table_offset);
      err != 0) {
    return err;
  }
  // The control region (version 2): the telemetry and the levels, as they are now.
  if (layout.control_bytes != 0) {
    if (const int err = write_at(fd, ring.base() + layout.control_offset, layout.control_bytes,
                                 layout.control_offset);
        err != 0) {
      return err;
    }
  }
  // The metrics region (version 3): its header, the entries defined, the shared stripe and
  // the stripes of slots that were ever owned, with the values as they are now.
  if (const ring::MetricsHeader* m = ring.metrics(); m != nullptr) {
    const std::uint64_t entries =
        std::min(m->defined.load(std::memory_order_acquire), layout.metric_cells);
    if (const int err =
            write_at(fd, m, ring::kMetricsHeaderBytes + entries * ring::kMetricEntryBytes,
                     layout.metrics_offset);
        err != 0) {
      return err;
    }
    const std::uint64_t stripe_bytes = ring::metrics_stripe_bytes(layout.metric_cells);
    for (std::uint32_t s = 0; s <= layout.slot_count; ++s) {
      if (s > 0 && ring.slot_header(s - 1).owners.load(std::memory_order_relaxed) == 0) continue;
      const std::uint64_t* stripe = ring.metric_stripe(s);
      if (const int err = write_at(
              fd, stripe, stripe_bytes,
              static_cast<std::uint64_t>(reinterpret_cast<const std::byte*>(stripe) - ring.base()));
          err != 0) {
        return err;
      }
    }
  }
  // The header page last (a crash report, if the crash handler wrote one, is in it), with
  // the site table's length as copied.
  alignas(64) std::byte page[ring::kPageBytes];
  ring::racy_copy(page, ring.base(), sizeof page);
  std::memcpy(page + offsetof(ring::RingHeader, site_table_used), &used, sizeof used);
  return write_at(fd, page, sizeof page, 0);
}

bool dump_file_name(const char* app, const char* suffix, char* out, std::size_t size) noexcept {
  if (size == 0) return false;
  char digits[16];
  std::size_t n = 0;
  for (auto pid = static_cast<std::uint32_t>(getpid()); n == 0 || pid != 0; pid /= 10) {
    digits[n++] = static_cast<char>('0' + pid % 10);
  }
  char pid_text[16];
  for (std::size_t i = 0; i < n; ++i) pid_text[i] = digits[n - 1 - i];
  pid_text[n] = '\0';
  std::size_t at = 0;
  for (const char* part : {app, ".", static_cast<const char*>(pid_text), ".", suffix, ".bbd"}) {
    at = append(out, at, size, part);
    if (at == size) return false;
  }
  out[at] = '\0';
  return true;
}

namespace {

// The real path of an open directory (what the descriptor is, whatever happened to its
// name since): "" if unknown.
std::string fd_path(int fd) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char target[PATH_MAX];
  const ssize_t n = readlink(link, target, sizeof target - 1);
  return n > 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

std::string dump_to_path(const ring::RingMemory& ring, const std::string& path,
                         const DumpPathRules& rules, std::string* written) {
  if (path.empty() || path.front() != '/') return path + ": the dump's path must be absolute";
  // A directory (not a link to one): the dump gets a generated name in it, always new.
  int dir_fd = sys::calls().open(path.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
  std::string name, full = path;
  if (dir_fd >= 0) {
    name = (rules.app.empty() ? std::string("blackbox") : rules.app) + "." +
           std::to_string(getpid()) + "." + archive::file_time(sys::realtime_ns()) + ".bbd";
    full = (path.back() == '/' ? path : path + "/") + name;
  } else {
    const std::size_t slash = path.find_last_of('/');
    const std::string parent = slash == 0 ? std::string("/") : path.substr(0, slash);
    name = path.substr(slash + 1);
    if (name.empty() || name == "." || name == "..") return path + ": names no file";
    // The directory once; from here on, everything is relative to this descriptor, and the
    // checks are of what it is, not of what its name meant a moment ago.
    dir_fd = sys::calls().open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir_fd < 0) return "cannot use " + parent + ": " + sys::error_text(errno);
  }
  const bool generated = full != path;
  const std::string real_dir = fd_path(dir_fd);
  for (const std::string& forbidden : rules.forbidden_dirs) {
    if (forbidden.empty()) continue;
    char real[PATH_MAX];
    if (realpath(forbidden.c_str(), real) == nullptr) continue;  // not there: nothing to hit
    if (real_dir.empty() || real_dir == real) {
      close(dir_fd);
      return path + ": a dump never goes into the ring or archive directory (" + std::string(real) +
             "), where it could replace a ring or archive file";
    }
  }
  const int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
                    (rules.replace_own_file && !generated ? 0 : O_EXCL);
  const int fd = sys::calls().openat(dir_fd, name.c_str(), flags, 0600);
  const int open_errno = errno;
  close(dir_fd);
  if (fd < 0) {
    switch (open_errno) {
      case EEXIST:
        return path +
               " already exists: a dump is always a new file (name a new one, or none "
               "for a generated name in the dump directory)";
      case ELOOP:
        return full + " is a symbolic link: refused";
      case ENXIO:
        return full + " is not a regular file (a FIFO or a socket): refused";
      default:
        return "cannot create " + full + ": " + sys::error_text(open_errno);
    }
  }
  struct stat st {};
  std::string refused;
  if (fstat(fd, &st) != 0) {
    refused = "cannot check " + full + ": " + sys::error_text(errno);
  } else if (!S_ISREG(st.st_mode)) {
    refused = full + " is not a regular file: refused";
  } else if (rules.replace_own_file && st.st_uid != geteuid()) {
    refused = full + " belongs to another user: refused (it could read the dump)";
  } else if (rules.replace_own_file && st.st_nlink > 1) {
    refused = full + " has other links: refused (the dump would replace their content too)";
  } else if (rules.replace_own_file && (fchmod(fd, 0600) != 0 || ftruncate(fd, 0) != 0)) {
    refused = "cannot replace " + full + ": " + sys::error_text(errno);
  }
  if (!refused.empty()) {
    close(fd);
    return refused;
  }
  const int err = write_ring_dump(ring, fd);
  close(fd);
  if (err != 0) return "cannot write " + full + ": " + sys::error_text(err);
  if (written != nullptr) *written = full;
  return "";
}

std::string dump_to_dir(const ring::RingMemory& ring, const std::string& dir,
                        const std::string& app, std::string& error) {
  // Ours and writable by no one else; the file is created relative to the directory we
  // checked, so a rename of the path meanwhile cannot redirect it.
  const int dir_fd = sys::open_private_dir(dir, 0700, false, error);
  if (dir_fd < 0) return "";
  const std::string name =
      app + "." + std::to_string(getpid()) + "." + archive::file_time(sys::realtime_ns()) + ".bbd";
  const std::string path = dir + "/" + name;
  const int fd = sys::calls().openat(dir_fd, name.c_str(),
                                     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  close(dir_fd);
  if (fd < 0) {
    error = "cannot create " + path + ": " + sys::error_text(errno);
    return "";
  }
  const int err = write_ring_dump(ring, fd);
  close(fd);
  if (err != 0) {
    error = "cannot write " + path + ": " + sys::error_text(err);
    return "";
  }
  return path;
}

namespace {

std::atomic<bool> g_dump_requested{false};

void on_dump_signal(int) {
  const int saved_errno = errno;
  g_dump_requested.store(true, std::memory_order_relaxed);  // the futex wake orders it
  ring::wake_flusher_now();
  errno = saved_errno;
}

}  // namespace

std::string install_dump_signal(int signal) {
  if (signal < 1 || signal >= NSIG || signal == SIGKILL || signal == SIGSTOP ||
      is_reserved_signal(signal)) {
    return "dump_signal " + std::to_string(signal) +
           " is a crash signal, SIGALRM, KILL or STOP: no dump handler installed";
  }
  struct sigaction action {};
  action.sa_handler = on_dump_signal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  if (sigaction(signal, &action, nullptr) != 0) {
    return "dump_signal " + std::to_string(signal) + ": " + sys::error_text(errno);
  }
  return "";
}

bool take_dump_request() noexcept {
  return g_dump_requested.exchange(false, std::memory_order_relaxed);
}

}  // namespace blackbox::crash
