// One trace through a worker pool and across two processes.
//
//   build/examples/blackbox_trace_propagation
//   logcat --trace <the id it prints>      # every record of the request, both processes
//
// A request opens a span; its context is captured (current_trace) and restored on the pool's
// threads (TraceScope), where each task opens a child span; then it crosses into a child
// process as a W3C `traceparent` string, which the child parses and continues under.
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "blackbox/span.hpp"

namespace {

// A minimal thread pool: tasks run in order on any of its threads.
class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
  }
  ~Pool() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    ready_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void submit(std::function<void()> task) {
    {
      std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    ready_.notify_one();
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [this] { return done_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  bool done_ = false;
  std::vector<std::thread> threads_;
};

// The second process: continues the trace it was handed.
int child(const char* traceparent) {
  std::string error;
  const auto parent = blackbox::TraceContext::parse(traceparent, &error);
  if (!parent) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  blackbox::TraceScope scope(*parent);
  BBX_SPAN("charge card for order {order}", 42);
  BBX_INFO("card charged in process {pid}", static_cast<int>(getpid()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "trace_example";
  if (auto r = blackbox::init(config); !r.ok()) std::fprintf(stderr, "%s\n", r.error.c_str());
  if (argc == 3 && std::string(argv[1]) == "--child") return child(argv[2]);

  std::string trace_id;
  {
    BBX_SPAN("handle order {order}", 42);  // a new trace: this request's root span
    const blackbox::TraceContext request = *blackbox::current_trace();
    trace_id = request.trace_id_hex();
    {
      Pool pool(2);
      for (int item = 0; item < 3; ++item) {
        pool.submit([request, item] {
          blackbox::TraceScope scope(request);  // the request's context on a pool thread
          BBX_SPAN("reserve stock for item {item}", item);
          BBX_INFO("item {item} reserved", item);
        });
      }
    }  // the pool finishes its tasks
    // Across a process boundary: the traceparent header value, as an RPC would carry it.
    const std::string traceparent = blackbox::current_trace()->format();
    const pid_t pid = fork();
    if (pid == 0) {
      execl("/proc/self/exe", argv[0], "--child", traceparent.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    BBX_INFO("order {order} done, child exited with {status}", 42, WEXITSTATUS(status));
  }
  blackbox::shutdown();  // everything into the archive
  std::printf("trace %s: logcat --trace %s\n", trace_id.c_str(), trace_id.c_str());
  return 0;
}
