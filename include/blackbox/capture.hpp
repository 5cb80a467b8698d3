// Lines read from file descriptors, logged as records: how blackbox captures a program's
// stdout and stderr (Config::capture_stdio) and how bbx-run captures a child's. Each line
// becomes one record (tag and level per stream, the line as the message) and the bytes are
// also copied, as they come, to a pass-through descriptor (the terminal they would have
// gone to).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "blackbox/level.hpp"

namespace blackbox {

class LineCapture {
 public:
  struct Stream {
    int fd = -1;      // the read end (of a pipe); LineCapture makes it non-blocking and closes it
    std::string tag;  // e.g. "stdout"
    Level level = Level::info;
    int passthrough = -1;  // where the bytes are copied as they come; -1: nowhere
  };

  // Lines longer than `max_line` bytes are logged in pieces of that size (each a record).
  // A line without its newline is logged once nothing more came for 50 ms, or at stop.
  static constexpr std::size_t kDefaultMaxLine = 4096;

  // Starts a thread ("bbx-capture") that reads the streams until stop() or end of file.
  // `before_passthrough`, if given, is called by that thread before it copies bytes through
  // (the library's console shows the records logged before them first, so that a terminal
  // shows things in the order they happened).
  explicit LineCapture(std::vector<Stream> streams, std::size_t max_line = kDefaultMaxLine,
                       std::function<void()> before_passthrough = {});
  ~LineCapture();  // stop(0)
  LineCapture(const LineCapture&) = delete;
  LineCapture& operator=(const LineCapture&) = delete;

  // Reads what the streams hold, and for up to `wait_ms` what still comes until every writer
  // has closed its end; logs what is left (partial lines too), then ends the thread and
  // closes the read ends. Returns even if a writer still holds a stream open. Idempotent.
  void stop(int wait_ms = 0) noexcept;

  // Async-signal-safe (the crash handler): asks the thread to read and log everything the
  // streams hold now, partial lines too, and waits up to `timeout_ms` for it. True if done.
  bool drain_now(int timeout_ms) noexcept;

  [[nodiscard]] std::uint64_t lines() const noexcept {
    return lines_.load(std::memory_order_relaxed);
  }

 private:
  struct State;
  void run();
  std::unique_ptr<State> state_;
  std::thread thread_;
  std::atomic<std::uint64_t> lines_{0};
};

}  // namespace blackbox
