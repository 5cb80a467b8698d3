// LineCapture (blackbox/capture.hpp) and its use for the process's own stdout and stderr.
#include "blackbox/capture.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "blackbox/detail/runtime_site.hpp"

namespace blackbox {
namespace {

std::int64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1'000'000;
}

void write_all(int fd, const char* p, std::size_t n) noexcept {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // the pass-through is gone: the records still have the lines
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

constexpr int kPartialMs = 50;  // a line without its newline waits this long for the rest

}  // namespace

struct LineCapture::State {
  struct Input {
    Stream stream;
    detail::Site* site = nullptr;
    std::vector<char> pending;  // bytes of the line not yet logged (capacity: max_line)
    // A private pipe the stream's bytes are first copied into (tee: the stream keeps them),
    // so that the stream gives them up only once they are passed through and logged: a
    // process that dies meanwhile (_exit, kill -9) leaves them in the stream, for whoever
    // else holds its read end (the capture keeper). -1: the stream is not a pipe.
    int copy_read = -1, copy_write = -1;
    std::int64_t pending_since_ms = 0;
    bool open = true;
  };
  std::vector<Input> inputs;
  std::size_t max_line;
  std::function<void()> before_passthrough;
  int wake = -1;  // eventfd: stop() and drain_now() ring it
  // Memory ordering: stop_ is read by the thread after it is woken (relaxed: the eventfd
  // write/read orders nothing by itself, but a stale read only costs one more loop). The
  // drain counters are a request/acknowledge pair: release on each side, acquire on the
  // other, so the handler that sees its request acknowledged sees the records written.
  std::atomic<bool> stopping{false};
  std::atomic<int> stop_wait_ms{0};
  std::atomic<std::uint64_t> drain_requested{0}, drain_done{0};
};

LineCapture::LineCapture(std::vector<Stream> streams, std::size_t max_line,
                         std::function<void()> before_passthrough)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.before_passthrough = std::move(before_passthrough);
  s.max_line = std::max<std::size_t>(max_line, 16);
  for (Stream& stream : streams) {
    State::Input in;
    const int flags = ::fcntl(stream.fd, F_GETFL);
    if (flags >= 0) ::fcntl(stream.fd, F_SETFL, flags | O_NONBLOCK);
    // The site exists before any crash needs it: the handler's drain allocates nothing.
    in.site = detail::runtime_site(stream.tag, stream.level, "", 0, "");
    in.pending.reserve(s.max_line);
    int copy[2];
    if (::pipe2(copy, O_CLOEXEC | O_NONBLOCK) == 0) {
      in.copy_read = copy[0];
      in.copy_write = copy[1];
    }
    in.stream = std::move(stream);
    s.inputs.push_back(std::move(in));
  }
  s.wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "bbx-capture");
    run();
  });
}

LineCapture::~LineCapture() { stop(0); }

void LineCapture::stop(int wait_ms) noexcept {
  if (!thread_.joinable()) return;
  state_->stop_wait_ms.store(wait_ms, std::memory_order_relaxed);
  state_->stopping.store(true, std::memory_order_release);
  const std::uint64_t one = 1;
  (void)!::write(state_->wake, &one, sizeof one);
  thread_.join();
  for (auto& in : state_->inputs) {
    ::close(in.stream.fd);
    if (in.copy_read >= 0) ::close(in.copy_read);
    if (in.copy_write >= 0) ::close(in.copy_write);
  }
  ::close(state_->wake);
}

bool LineCapture::drain_now(int timeout_ms) noexcept {
  State& s = *state_;
  const std::uint64_t ticket = s.drain_requested.fetch_add(1, std::memory_order_acq_rel) + 1;
  const std::uint64_t one = 1;
  (void)!::write(s.wake, &one, sizeof one);
  for (int waited = 0; waited < timeout_ms * 10; ++waited) {
    if (s.drain_done.load(std::memory_order_acquire) >= ticket) return true;
    timespec tenth{0, 100'000};
    ::nanosleep(&tenth, nullptr);
  }
  return false;
}

void LineCapture::run() {
  State& s = *state_;
  auto log_piece = [&](State::Input& in, const char* data, std::size_t n) {
    if (in.site != nullptr) {
      detail::log_text(*in.site, in.stream.level, std::string_view(data, n));
      lines_.fetch_add(1, std::memory_order_relaxed);
    }
  };
  auto flush_partial = [&](State::Input& in) {
    if (in.pending.empty()) return;
    log_piece(in, in.pending.data(), in.pending.size());
    in.pending.clear();
  };
  // Splits `data` into lines: whole ones are logged, the rest waits in `pending`.
  auto take = [&](State::Input& in, const char* data, std::size_t n) {
    while (n > 0) {
      const auto* newline = static_cast<const char*>(std::memchr(data, '\n', n));
      const std::size_t upto = newline != nullptr ? static_cast<std::size_t>(newline - data) : n;
      const std::size_t room = s.max_line - in.pending.size();
      if (upto >= room) {  // a line longer than max_line: logged in pieces
        in.pending.insert(in.pending.end(), data, data + room);
        flush_partial(in);
        data += room;
        n -= room;
        continue;
      }
      if (in.pending.empty()) in.pending_since_ms = monotonic_ms();
      in.pending.insert(in.pending.end(), data, data + upto);
      if (newline == nullptr) return;
      if (!in.pending.empty() && in.pending.back() == '\r') in.pending.pop_back();
      log_piece(in, in.pending.data(), in.pending.size());
      in.pending.clear();
      data += upto + 1;
      n -= upto + 1;
    }
  };
  // Reads up to `size` bytes of the stream into `buf`, leaving them in the stream (tee into
  // the private pipe, read from there); consume() then takes them from the stream. A stream
  // that is not a pipe is read plainly.
  auto peek = [&](State::Input& in, char* buf, std::size_t size) -> ssize_t {
    if (in.copy_read < 0) return ::read(in.stream.fd, buf, size);
    const ssize_t n = ::tee(in.stream.fd, in.copy_write, size, SPLICE_F_NONBLOCK);
    if (n < 0 && errno == EINVAL) {  // not a pipe after all: plain reads from now on
      ::close(in.copy_read);
      ::close(in.copy_write);
      in.copy_read = in.copy_write = -1;
      return ::read(in.stream.fd, buf, size);
    }
    // 0: end of file (no writer left); -1 with EAGAIN: empty for now.
    if (n <= 0) return n;
    std::size_t got = 0;
    while (got < static_cast<std::size_t>(n)) {
      const ssize_t r = ::read(in.copy_read, buf + got, static_cast<std::size_t>(n) - got);
      if (r <= 0) break;  // cannot happen: tee put n bytes there
      got += static_cast<std::size_t>(r);
    }
    return static_cast<ssize_t>(got);
  };
  auto consume = [&](State::Input& in, std::size_t n) {
    if (in.copy_read < 0) return;  // read plainly: already taken
    char scratch[4096];
    while (n > 0) {
      const ssize_t r = ::read(in.stream.fd, scratch, std::min(n, sizeof scratch));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return;
      n -= static_cast<std::size_t>(r);
    }
  };
  // Reads everything the stream holds now. False at end of file (every writer closed).
  auto read_available = [&](State::Input& in) {
    char buf[16384];
    while (true) {
      const ssize_t n = peek(in, buf, sizeof buf);
      if (n > 0) {
        if (in.stream.passthrough >= 0) {
          if (s.before_passthrough) s.before_passthrough();
          write_all(in.stream.passthrough, buf, std::size_t(n));
        }
        take(in, buf, static_cast<std::size_t>(n));
        consume(in, static_cast<std::size_t>(n));  // passed through and logged: now taken
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) {
        flush_partial(in);
        in.open = false;
      }
      return n != 0;
    }
  };
  std::vector<pollfd> fds(s.inputs.size() + 1);
  std::int64_t stop_deadline = -1;
  while (true) {
    const bool stopping = s.stopping.load(std::memory_order_acquire);
    if (stopping && stop_deadline < 0) {
      stop_deadline = monotonic_ms() + s.stop_wait_ms.load(std::memory_order_relaxed);
    }
    const std::uint64_t drain = s.drain_requested.load(std::memory_order_acquire);
    if (drain != s.drain_done.load(std::memory_order_relaxed) || stopping) {
      for (auto& in : s.inputs) {
        if (in.open) read_available(in);
        flush_partial(in);
      }
      s.drain_done.store(drain, std::memory_order_release);
    }
    const bool any_open =
        std::any_of(s.inputs.begin(), s.inputs.end(), [](const auto& in) { return in.open; });
    if (!any_open || (stopping && monotonic_ms() >= stop_deadline)) return;
    // Wait for bytes, a wake-up, or a partial line's time.
    std::int64_t timeout =
        stopping ? std::max<std::int64_t>(stop_deadline - monotonic_ms(), 0) : -1;
    for (std::size_t i = 0; i < s.inputs.size(); ++i) {
      fds[i] = {s.inputs[i].open ? s.inputs[i].stream.fd : -1, POLLIN, 0};
      if (!s.inputs[i].pending.empty()) {
        const std::int64_t left =
            std::max<std::int64_t>(s.inputs[i].pending_since_ms + kPartialMs - monotonic_ms(), 0);
        timeout = timeout < 0 ? left : std::min(timeout, left);
      }
    }
    fds.back() = {s.wake, POLLIN, 0};
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(timeout));
    if (ready < 0 && errno != EINTR) return;
    if (fds.back().revents != 0) {
      std::uint64_t count;
      (void)!::read(s.wake, &count, sizeof count);
    }
    for (std::size_t i = 0; i < s.inputs.size(); ++i) {
      State::Input& in = s.inputs[i];
      if (in.open && fds[i].revents != 0) read_available(in);
      if (!in.pending.empty() && monotonic_ms() - in.pending_since_ms >= kPartialMs) {
        flush_partial(in);
      }
    }
  }
}

}  // namespace blackbox
