#include "core/console.hpp"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>

#include "ring/wake.hpp"

namespace blackbox::core {

bool parse_console_spec(std::string_view text, ConsoleSpec& out, std::string& error) {
  ConsoleSpec spec;
  std::string_view mode = text, level;
  if (const auto colon = text.find(':'); colon != std::string_view::npos) {
    mode = text.substr(0, colon);
    level = text.substr(colon + 1);
  }
  if (mode == "auto") {
    spec.mode = ConsoleSpec::Mode::automatic;
  } else if (mode == "on") {
    spec.mode = ConsoleSpec::Mode::on;
  } else if (mode == "off") {
    spec.mode = ConsoleSpec::Mode::off;
  } else if (mode == "json") {
    spec.mode = ConsoleSpec::Mode::json;
  } else if (const auto l = parse_level(mode); l && level.empty()) {
    spec.mode = ConsoleSpec::Mode::on;  // "warn": shown from warn up
    spec.level = *l;
  } else {
    error =
        "expected auto, on, off, json, a level (e.g. warn), or MODE:LEVEL (e.g. json:warn); "
        "got \"" +
        std::string(text) + "\"";
    return false;
  }
  if (!level.empty()) {
    const auto l = parse_level(level);
    if (!l) {
      error = "unknown level \"" + std::string(level) + "\" in \"" + std::string(text) + "\"";
      return false;
    }
    spec.level = *l;
  }
  out = spec;
  return true;
}

NonBlockingWriter::NonBlockingWriter(int fd) : fd_(fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return;  // writes fail (EBADF): the console is gone
  if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) return;  // a write never waits for a reader
  if (S_ISSOCK(st.st_mode)) {
    kind_ = Kind::socket;
    return;
  }
  if (const int flags = ::fcntl(fd, F_GETFL); flags >= 0 && (flags & O_NONBLOCK) != 0) return;
  // A pipe or a terminal: a file description of our own (a pipe's /proc link opens the same
  // pipe; a terminal's, the same terminal), non-blocking without touching the shared one.
  char path[40];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  own_ = ::open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  kind_ = own_ >= 0 ? Kind::own_description : Kind::polled;
}

NonBlockingWriter::~NonBlockingWriter() {
  if (own_ >= 0) ::close(own_);
}

long NonBlockingWriter::write(const char* data, std::size_t size) noexcept {
  ssize_t n = 0;
  do {
    switch (kind_) {
      case Kind::plain:
        n = ::write(fd_, data, size);
        break;
      case Kind::socket:
        n = ::send(fd_, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
        break;
      case Kind::own_description:
        n = ::write(own_, data, size);
        break;
      case Kind::polled: {
        // No description of our own (no /proc): write only what cannot block, at most
        // PIPE_BUF bytes once poll() says there is room for them.
        pollfd p{fd_, POLLOUT, 0};
        if (::poll(&p, 1, 0) != 1) return 0;
        if ((p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) return -1;
        n = ::write(fd_, data, std::min<std::size_t>(size, PIPE_BUF));
        break;
      }
    }
  } while (n < 0 && errno == EINTR);
  if (n >= 0) return static_cast<long>(n);
  if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
  if (errno == EPIPE) {
    // The write raised SIGPIPE at this thread, where it is blocked: take it back.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    const timespec zero{};
    ::sigtimedwait(&pipe, nullptr, &zero);
  }
  return -1;
}

namespace {

// "... 1,234 lines not shown\n" into `out` (64 bytes); returns its length.
std::size_t not_shown_note(std::uint64_t lines, char (&out)[64]) {
  char digits[24];
  const int n =
      std::snprintf(digits, sizeof digits, "%llu", static_cast<unsigned long long>(lines));
  std::string grouped;
  for (int i = 0; i < n; ++i) {
    if (i != 0 && (n - i) % 3 == 0) grouped += ',';
    grouped += digits[i];
  }
  return static_cast<std::size_t>(std::snprintf(out, sizeof out, "... %s line%s not shown\n",
                                                grouped.c_str(), lines == 1 ? "" : "s"));
}

std::int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1'000'000;
}

}  // namespace

bool NonBlockingWriter::wait_writable(int timeout_ms) noexcept {
  pollfd p{own_ >= 0 ? own_ : fd_, POLLOUT, 0};
  int n;
  do {
    n = ::poll(&p, 1, timeout_ms);
  } while (n < 0 && errno == EINTR);
  return n == 1 && (p.revents & POLLOUT) != 0;
}

Console::Console(int fd, text::Format format, Level level, bool colour, bool skip_captured,
                 int notice_fd)
    : out_(fd),
      renderer_(format, colour, false),
      format_(format),
      level_(level),
      skip_captured_(skip_captured),
      notice_fd_(notice_fd >= 0 ? notice_fd : fd) {}

void Console::show(const Record& r) {
  if (pending_.size() + lines_.size() >= kMaxPending) {  // not even rendered
    ++dropped_in_pass_;
    return;
  }
  const auto begin = static_cast<std::uint32_t>(lines_.size());
  renderer_.render(format_ == text::Format::text ? spans_.reword(r) : r, lines_, app_);
  order_.push_back({r.time_ns, begin, static_cast<std::uint32_t>(lines_.size())});
}

void Console::write_pending() noexcept {
  while (pending_.size() != 0 && !gone_) {
    const long n = out_.write(pending_.data(), pending_.size());
    if (n <= 0) {
      gone_ = n < 0;
      return;
    }
    const auto written = static_cast<std::size_t>(n);
    auto lines =
        static_cast<std::uint64_t>(std::count(pending_.data(), pending_.data() + written, '\n'));
    written_ += written;
    for (; !note_ends_.empty() && note_ends_.front() < written_; note_ends_.pop_front()) --lines;
    shown_.fetch_add(lines, std::memory_order_relaxed);
    pending_.consume(written);
  }
}

void Console::pass(bool final) noexcept {
  if (flusher_tid_.load(std::memory_order_relaxed) == 0) {
    flusher_tid_.store(static_cast<std::uint32_t>(::syscall(SYS_gettid)),
                       std::memory_order_relaxed);
  }
  if (final) {
    closed_.store(true, std::memory_order_relaxed);
    { std::lock_guard lock(show_mutex_); }  // a show_now() between its check and its wait
    show_served_.notify_all();              // sees closed_ now
  }
  if (gone_) return;
  if (!blocked_sigpipe_) {
    // A pipe whose reader went away fails the write with EPIPE instead of killing the
    // process: SIGPIPE is blocked in this (the flusher) thread.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    blocked_sigpipe_ = true;
  }
  if (!reader_) {
    reader_ = RingReader::open_self();
    if (!reader_) return;        // the ring is not published yet: the next pass
    app_ = reader_->info().app;  // JSON lines name it, as logcat's do
    ReadFilter filter;
    filter.min_level = level_;
    filter.fields = format_ == text::Format::json;  // text needs only the message
    if (skip_captured_) {
      filter.site = [](std::string_view tag, Level) { return tag != "stdout" && tag != "stderr"; };
    }
    reader_->set_filter(std::move(filter));
  }
  write_pending();
  lines_.clear();
  order_.clear();
  try {
    reader_->poll([this](const Record& r) { show(r); });
  } catch (...) {  // out of memory: these lines are lost, the next pass goes on
  }
  // Records the ring overwrote before the console read them are not shown either.
  if (const std::uint64_t lost = reader_->lost_records(); lost > lost_seen_) {
    unsaid_ += lost - lost_seen_;
    not_shown_.fetch_add(lost - lost_seen_, std::memory_order_relaxed);
    lost_seen_ = lost;
  }
  // Each slot's records come in order; across threads, in time order within the pass.
  std::stable_sort(order_.begin(), order_.end(),
                   [](const Line& a, const Line& b) { return a.time_ns < b.time_ns; });
  for (const Line& line : order_) {
    const std::size_t size = line.end - line.begin;
    char note[64];
    const std::size_t note_size = unsaid_ != 0 ? not_shown_note(unsaid_, note) : 0;
    if (pending_.size() + note_size + size > kMaxPending) {
      ++unsaid_;
      not_shown_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (note_size != 0) {
      note_ends_.push_back(written_ + pending_.size() + note_size - 1);
      pending_.append(note, note_size);
    }
    unsaid_ = 0;
    pending_.append(lines_.data() + line.begin, size);
    if (pending_.size() >= kMaxPending / 2) write_pending();
  }
  // Dropped while reading: said after this pass's lines.
  unsaid_ += dropped_in_pass_;
  not_shown_.fetch_add(dropped_in_pass_, std::memory_order_relaxed);
  dropped_in_pass_ = 0;
  write_pending();
  if (final) {
    // Nobody logs any more: a console that is being read gets a moment to take the rest.
    const std::int64_t deadline = now_ms() + kFinalWaitMs;
    for (std::int64_t left; pending_.size() != 0 && !gone_ && (left = deadline - now_ms()) > 0;) {
      if (!out_.wait_writable(static_cast<int>(left))) break;
      write_pending();
    }
  }
  if (final && pending_.size() != 0) {
    // The records' lines still queued (a line partly written included), not the notes.
    const auto lines = static_cast<std::uint64_t>(
        std::count(pending_.data(), pending_.data() + pending_.size(), '\n'));
    const std::uint64_t records = lines - note_ends_.size();
    note_ends_.clear();
    not_shown_.fetch_add(records, std::memory_order_relaxed);
    pending_.clear();
  }
}

void Console::serve_crash_request() noexcept {
  // Acquire: pairs with show_crash()'s release (nothing else to see but the request).
  if (!crash_asked_.load(std::memory_order_acquire) ||
      crash_shown_.load(std::memory_order_relaxed)) {
    return;
  }
  pass(true);  // every record logged so far; the terminal gets up to kFinalWaitMs to take them
  crash_shown_.store(true, std::memory_order_release);
}

void Console::show_now(int timeout_ms) {
  std::unique_lock lock(show_mutex_);
  if (closed_.load(std::memory_order_relaxed)) return;
  const std::uint64_t mine = ++show_requested_;
  show_pending_.store(true, std::memory_order_relaxed);
  ring::wake_flusher_now();
  show_served_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
    return show_done_ >= mine || closed_.load(std::memory_order_relaxed);
  });
}

void Console::serve_show_requests() {
  if (!show_pending_.load(std::memory_order_relaxed)) return;
  std::uint64_t asked;
  {
    std::lock_guard lock(show_mutex_);
    asked = show_requested_;
    show_pending_.store(false, std::memory_order_relaxed);
  }
  pass(false);  // everything logged before the requests (they came before this pass)
  {
    std::lock_guard lock(show_mutex_);
    show_done_ = asked;
  }
  show_served_.notify_all();
}

void Console::show_crash(const crash::CrashNotice& notice, int pid, int wait_ms) noexcept {
  bool shown = false;
  if (!closed_.load(std::memory_order_relaxed) &&
      flusher_tid_.load(std::memory_order_relaxed) != notice.tid) {
    crash_asked_.store(true, std::memory_order_release);
    ring::wake_flusher_now();
    for (int waited = 0; waited < wait_ms; ++waited) {
      if (crash_shown_.load(std::memory_order_acquire)) break;
      timespec ms{0, 1'000'000};
      ::nanosleep(&ms, nullptr);
    }
    shown = crash_shown_.load(std::memory_order_acquire);
  }
  char line[256];
  const std::size_t size = crash_notice_line(notice, pid, shown, line, sizeof line);
  // Blocking is bounded by the handler's alarm(); a plain write(2) of one line.
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = ::write(notice_fd_, line + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
}

namespace {

// Appends to a fixed buffer, cutting what does not fit (async-signal-safe).
struct FixedLine {
  char* out;
  std::size_t size, used = 0;
  void add(const char* text) {
    while (*text != '\0') add_char(*text++);
  }
  void add_char(char c) {
    if (used + 1 < size) out[used++] = c;
  }
  void add_number(unsigned long long value) {
    char digits[24];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    while (n > 0) add_char(digits[--n]);
  }
};

}  // namespace

std::size_t crash_notice_line(const crash::CrashNotice& notice, int pid, bool shown, char* out,
                              std::size_t size) noexcept {
  if (size < 2) return 0;
  FixedLine line{out, size};  // keeps the last byte for the newline
  line.add("blackbox: crashed with ");
  // The signals the handlers are installed for, by name (no strsignal(): locale, locks).
  static constexpr std::pair<int, const char*> kNames[] = {{SIGSEGV, "SIGSEGV"},
                                                           {SIGBUS, "SIGBUS"},
                                                           {SIGILL, "SIGILL"},
                                                           {SIGFPE, "SIGFPE"},
                                                           {SIGABRT, "SIGABRT"}};
  const char* name = nullptr;
  for (const auto& [number, text] : kNames) {
    if (number == notice.signal) name = text;
  }
  if (name != nullptr) {
    line.add(name);
  } else {
    line.add("signal ");
    line.add_number(static_cast<unsigned>(notice.signal));
  }
  if (notice.terminate) line.add(" (an uncaught exception)");
  line.add(" in thread ");
  line.add_number(notice.tid);
  if (notice.thread_name[0] != '\0') {
    line.add(" (");
    // The name is the program's (prctl, pthread_setname_np): no control bytes reach the
    // terminal.
    for (std::size_t i = 0; i < sizeof notice.thread_name && notice.thread_name[i] != '\0'; ++i) {
      const auto c = static_cast<unsigned char>(notice.thread_name[i]);
      line.add_char(c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c));
    }
    line.add(")");
  }
  if (!shown) line.add("; its last console lines could not be shown");
  line.add("; post-mortem: logcat -p ");
  line.add_number(static_cast<unsigned>(pid));
  out[line.used++] = '\n';
  return line.used;
}

void Console::add_stats(Stats& s) const noexcept {
  s.console_lines += shown_.load(std::memory_order_relaxed);
  s.console_not_shown += not_shown_.load(std::memory_order_relaxed);
}

}  // namespace blackbox::core
