// A program that logs through spdlog with blackbox's sink (tests/spdlog_sink_test.cpp).
//   spdlog_child all N    the default logger, a named logger with source locations and an
//                         async logger, N messages each; prints the macros' line numbers
//   spdlog_child ack      an async logger with blackbox's sink, then a sink that writes each
//                         message's number to stdout once blackbox's sink has taken it;
//                         logs until killed
#include <spdlog/async.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "blackbox/spdlog_sink.hpp"

namespace {

// Acknowledges each message after the sinks before it (blackbox's) have taken it.
class AckSink final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg& msg) override {
    std::string line(msg.payload.data(), msg.payload.size());
    line += '\n';
    if (::write(1, line.data(), line.size()) < 0) std::_Exit(3);
  }
  void flush() override {}
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}
};

int all(int n) {
  auto sink = std::make_shared<blackbox::spdlog_sink_mt>();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("", sink));
  spdlog::set_level(spdlog::level::trace);
  auto net = std::make_shared<spdlog::logger>("net", sink);
  net->set_level(spdlog::level::trace);
  spdlog::init_thread_pool(8192, 1);
  auto jobs = std::make_shared<spdlog::async_logger>("jobs", sink, spdlog::thread_pool(),
                                                     spdlog::async_overflow_policy::block);
  std::printf("net_line=%d jobs_line=%d\n", __LINE__ + 4, __LINE__ + 5);
  for (int i = 0; i < n; ++i) {
    spdlog::info("default {}", i);
    spdlog::debug("debug {}", i);
    SPDLOG_LOGGER_WARN(net, "net {} to {}", i, "host");
    SPDLOG_LOGGER_CRITICAL(jobs, "job {} failed", i);
  }
  spdlog::shutdown();  // the async queue is written out
  return 0;
}

int ack() {
  auto sink = std::make_shared<blackbox::spdlog_sink_st>();
  spdlog::init_thread_pool(1024, 1);
  auto log = std::make_shared<spdlog::async_logger>(
      "acked", spdlog::sinks_init_list{sink, std::make_shared<AckSink>()}, spdlog::thread_pool(),
      spdlog::async_overflow_policy::block);
  for (unsigned long i = 0;; ++i) log->error("{}", i);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "all") == 0) return all(std::atoi(argv[2]));
  if (argc == 2 && std::strcmp(argv[1], "ack") == 0) return ack();
  std::fprintf(stderr, "usage: spdlog_child all N | ack\n");
  return 2;
}
