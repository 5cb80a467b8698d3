// The sender's side of the control area (format/control_area.hpp), and the readers of the
// telemetry and levels by path. See blackbox/control.hpp.
//
// Memory ordering: under the requesters' lock, the request slot is filled, then
// requests_written is stored with release (the process loads it with acquire); the reply
// is read after an acquire load of requests_done that shows the process got past it.
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "blackbox/control.hpp"
#include "blackbox/reader.hpp"
#include "blackbox/text.hpp"
#include "format/ring_layout.hpp"
#include "format/ring_validate.hpp"
#include "ring/wake.hpp"
#include "sys/calendar.hpp"
#include "sys/clock.hpp"
#include "sys/dirs.hpp"

namespace blackbox {
namespace {

// The ring file's header page and control region, mapped for writing.
class ControlMapping {
 public:
  ~ControlMapping() {
    if (base_ != nullptr) munmap(base_, bytes_);
    if (fd_ >= 0) close(fd_);
  }
  std::string open(const std::string& path) {
    std::string why;
    fd_ = sys::open_regular(path, true, why);
    if (fd_ < 0) {
      if (errno == EACCES || errno == EPERM) {
        return "no permission to write it (only its process's user, or root, may control it)";
      }
      return why;
    }
    struct stat st {};
    if (fstat(fd_, &st) != 0) return sys::error_text(errno);
    if (static_cast<std::uint64_t>(st.st_size) < ring::kPageBytes) return "not a ring file";
    // The writer holds an exclusive lock for its whole life: a shared one we can take means
    // nobody writes it (let go at once: recovery must not take us for its writer).
    if (flock(fd_, LOCK_SH | LOCK_NB) == 0) {
      flock(fd_, LOCK_UN);
      return "its process is not running";
    }
    void* header = mmap(nullptr, ring::kPageBytes, PROT_READ, MAP_SHARED, fd_, 0);
    if (header == MAP_FAILED) return std::string("cannot map: ") + sys::error_text(errno);
    ring::Layout layout{};
    std::string error;
    const bool valid = ring::validate_header(static_cast<const std::byte*>(header),
                                             static_cast<std::size_t>(st.st_size), layout, error);
    munmap(header, ring::kPageBytes);
    if (!valid) return error;
    if (layout.control_bytes == 0) {
      return "its ring file is of format version 1 (a blackbox too old to be controlled)";
    }
    bytes_ = layout.control_offset + layout.control_bytes;
    void* base = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (base == MAP_FAILED) return std::string("cannot map: ") + sys::error_text(errno);
    base_ = static_cast<std::byte*>(base);
    control_offset_ = layout.control_offset;
    return {};
  }
  ring::ControlArea& control() const {
    return *reinterpret_cast<ring::ControlArea*>(base_ + control_offset_);
  }
  // The requesters' lock (an open-file-description lock: the kernel lets go if we die).
  bool lock(short type) const {
    struct flock fl {};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = static_cast<off_t>(control_offset_);
    fl.l_len = 1;
    while (fcntl(fd_, F_OFD_SETLKW, &fl) != 0) {
      if (errno != EINTR) return false;
    }
    return true;
  }

 private:
  int fd_ = -1;
  std::byte* base_ = nullptr;
  std::size_t bytes_ = 0;
  std::uint64_t control_offset_ = 0;
};

}  // namespace

std::optional<Telemetry> read_telemetry(const std::string& ring_path, std::string* error) {
  auto reader = RingReader::open(ring_path, error);
  if (reader == nullptr) return std::nullopt;
  auto t = reader->telemetry();
  if (!t && error != nullptr) *error = ring_path + ": ring format version 1 has no telemetry";
  return t;
}

std::optional<LevelsState> read_levels(const std::string& ring_path, std::string* error) {
  auto reader = RingReader::open(ring_path, error);
  if (reader == nullptr) return std::nullopt;
  auto l = reader->levels();
  if (!l && error != nullptr) *error = ring_path + ": ring format version 1 has no levels";
  return l;
}

namespace {
// Tests only: the identity a lying requester claims (0: the real one).
std::pair<std::int32_t, std::uint32_t> g_claimed_for_testing{0, 0};
}  // namespace

void claim_identity_for_testing(std::int32_t pid, std::uint32_t uid) {
  g_claimed_for_testing = {pid, uid};
}

std::string send_control(const std::string& ring_path, const ControlRequest& request,
                         ControlReply& reply, std::int64_t timeout_ns) {
  if (request.kind == ControlRequest::Kind::level) {
    if (request.tag.size() >= ring::kControlTagBytes) return "tag too long";
    if (request.for_ns < 0) return "a negative time";
  }
  if (request.kind == ControlRequest::Kind::dump) {
    if (!request.path.empty() && request.path.front() != '/')
      return "the dump's path must be absolute";
    if (request.path.size() >= ring::kControlPathBytes) return "the dump's path is too long";
  }
  if (request.kind == ControlRequest::Kind::rate &&
      request.rate_spec.size() >= ring::kControlPathBytes) {
    return "the rate spec is too long (at most 255 bytes)";
  }
  ControlMapping mapping;
  if (std::string error = mapping.open(ring_path); !error.empty()) {
    return ring_path + ": " + error;
  }
  ring::ControlArea& c = mapping.control();
  if (!mapping.lock(F_WRLCK)) return ring_path + ": cannot lock: " + sys::error_text(errno);
  const std::uint64_t n = c.requests_written.load(std::memory_order_relaxed);  // ours to write
  const std::uint64_t done = c.requests_done.load(std::memory_order_acquire);
  if (n - done >= ring::kControlRequests) {
    mapping.lock(F_UNLCK);
    return ring_path + ": " + std::to_string(n - done) +
           " requests are waiting already (is the process stopped?)";
  }
  ring::ControlRequest& r = c.requests[n % ring::kControlRequests];
  r.status.store(static_cast<std::uint32_t>(ring::ControlStatus::pending),
                 std::memory_order_relaxed);
  r.number = n;
  switch (request.kind) {
    case ControlRequest::Kind::level:
      r.kind = static_cast<std::uint32_t>(ring::ControlKind::level);
      break;
    case ControlRequest::Kind::flush:
      r.kind = static_cast<std::uint32_t>(ring::ControlKind::flush);
      break;
    case ControlRequest::Kind::rotate:
      r.kind = static_cast<std::uint32_t>(ring::ControlKind::rotate);
      break;
    case ControlRequest::Kind::dump:
      r.kind = static_cast<std::uint32_t>(ring::ControlKind::dump);
      break;
    case ControlRequest::Kind::rate:
      r.kind = static_cast<std::uint32_t>(ring::ControlKind::rate);
      break;
    case ControlRequest::Kind::rates:
      r.kind = static_cast<std::uint32_t>(ring::ControlKind::rates);
      break;
  }
  // What the request claims: the process checks what it can (its audit record says which).
  const auto forged = g_claimed_for_testing;
  r.pid = forged.first != 0 ? forged.first : static_cast<std::int32_t>(getpid());
  r.uid = forged.first != 0 ? forged.second : static_cast<std::uint32_t>(getuid());
  r.for_ns = request.for_ns;
  r.level = static_cast<std::uint8_t>(request.level);
  r.default_level = request.tag.empty() ? 1 : 0;
  std::memset(r.reserved, 0, sizeof r.reserved);
  ring::set_field(r.tag, request.tag);
  ring::set_field(r.path,
                  request.kind == ControlRequest::Kind::rate ? request.rate_spec : request.path);
  std::memset(r.result, 0, sizeof r.result);
  c.requests_written.store(n + 1, std::memory_order_release);
  mapping.lock(F_UNLCK);
  ring::ring_shared_doorbell(c.doorbell);  // its flusher serves it now, not at its interval
  // The process answers from its flusher thread, woken by the doorbell (at the latest at its
  // next interval): poll, 1 ms at first, backing off to 20 ms.
  const std::int64_t deadline = sys::monotonic_ns() + timeout_ns;
  std::int64_t pause_ns = 1'000'000;
  while (c.requests_done.load(std::memory_order_acquire) <= n) {
    if (sys::monotonic_ns() >= deadline) {
      return ring_path + ": no answer within " + std::to_string(timeout_ns / 1'000'000) +
             " ms (the request stays queued: the process applies it when its flusher runs)";
    }
    timespec ts{0, pause_ns};
    nanosleep(&ts, nullptr);
    pause_ns = std::min<std::int64_t>(pause_ns * 2, 20'000'000);
  }
  const auto status = static_cast<ring::ControlStatus>(r.status.load(std::memory_order_relaxed));
  char result[ring::kControlResultBytes];
  std::memcpy(result, r.result, sizeof result);
  reply.applied = status == ring::ControlStatus::done;
  // The process's answer goes to the requester's terminal (root's, possibly): escaped.
  reply.result = text::printable({result, strnlen(result, sizeof result)});
  return {};
}

}  // namespace blackbox
