#include "peers.hpp"

#include <spdlog/async.h>
#include <spdlog/sinks/basic_file_sink.h>

#include <cstdlib>
#include <filesystem>

namespace bench {

std::string Peers::dir() {
  const char* dir = std::getenv("BBX_BENCH_DIR");
  return dir != nullptr ? dir : "/tmp/blackbox-bench";
}

Peers::Peers() {
  dir_ = dir();
  std::filesystem::create_directories(dir_);
  // spdlog's documented default queue (8192 entries), one worker thread; a full queue
  // blocks the caller (spdlog's default overflow policy).
  spdlog::init_thread_pool(8192, 1);
  reset();
}

Peers::~Peers() {
  close_all();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void Peers::close_all() {
  if (async_) async_->flush();
  spdlog::drop_all();
  async_.reset();
  sync_.reset();
  if (printf_file_ != nullptr) std::fclose(printf_file_);
  if (fmt_file_ != nullptr) std::fclose(fmt_file_);
  printf_file_ = fmt_file_ = nullptr;
}

void Peers::reset() {
  close_all();
  auto async_sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(dir_ + "/async.log", true);
  async_ = std::make_shared<spdlog::async_logger>("async", async_sink, spdlog::thread_pool(),
                                                  spdlog::async_overflow_policy::block);
  sync_ = spdlog::basic_logger_mt("sync", dir_ + "/sync.log", true);
  printf_file_ = std::fopen((dir_ + "/printf.log").c_str(), "w");
  fmt_file_ = std::fopen((dir_ + "/fmt.log").c_str(), "w");
  // Both get the same 64 KiB buffer.
  std::setvbuf(printf_file_, nullptr, _IOFBF, 1 << 16);
  std::setvbuf(fmt_file_, nullptr, _IOFBF, 1 << 16);
}

void Peers::drain() { async_->flush(); }

Peers& peers() {
  static Peers p;
  return p;
}

}  // namespace bench
