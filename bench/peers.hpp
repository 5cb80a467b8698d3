// The peers blackbox is measured against, writing the same messages to files: spdlog async
// and sync (file sinks), fprintf to a buffered FILE, fmt::format_to + fwrite.
#pragma once

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>
#include <string>

namespace bench {

class Peers {
 public:
  // Files go to $BBX_BENCH_DIR or /tmp/blackbox-bench (a disk, like a real log file).
  Peers();
  [[nodiscard]] static std::string dir();
  ~Peers();
  // Recreates every sink on empty files, so no benchmark pays for another's backlog.
  void reset();
  // Waits until the async logger's queue is written (outside any timed region).
  void drain();

  spdlog::logger& spdlog_async() { return *async_; }
  spdlog::logger& spdlog_sync() { return *sync_; }
  std::FILE* printf_file() { return printf_file_; }
  std::FILE* fmt_file() { return fmt_file_; }
  fmt::memory_buffer& fmt_buffer() { return buffer_; }

 private:
  void close_all();
  std::string dir_;
  std::shared_ptr<spdlog::logger> async_, sync_;
  std::FILE* printf_file_ = nullptr;
  std::FILE* fmt_file_ = nullptr;
  fmt::memory_buffer buffer_;
};

Peers& peers();

}  // namespace bench
