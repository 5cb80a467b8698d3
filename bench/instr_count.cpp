// Logs N records of one kind inside a function callgrind can be told to count
// (--toggle-collect=bbx_run_<kind>). callgrind.sh divides the count by N: instructions per
// record on the logging thread, a figure that repeats exactly from run to run.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "blackbox/blackbox.hpp"
#include "blackbox/log_histogram.hpp"
#include "blackbox/metrics.hpp"
#include "blackbox/span.hpp"
#include "messages.hpp"
#include "peers.hpp"
#include "prometheus_peers.hpp"
#include "workload.hpp"

extern "C" {

// The loop alone, to subtract its overhead.
__attribute__((noinline)) void bbx_run_empty(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) asm volatile("" ::"r"(i) : "memory");
}

// The string is a runtime value (as in a real program), so strlen is counted too.
const char* volatile g_user = bench::kUser;

__attribute__((noinline)) void bbx_run_four_args(std::uint64_t n) {
  double ms = 0.25;
  const char* user = g_user;
  for (std::uint64_t i = 0; i < n; ++i) {
    BBX_INFO(BENCH_FOUR_FMT, i, ms, 200, user);
    ms += 0.5;
  }
}

// The same message with the string as a std::string (its length is known: no strlen).
__attribute__((noinline)) void bbx_run_four_args_std_string(std::uint64_t n) {
  double ms = 0.25;
  const std::string user = g_user;
  for (std::uint64_t i = 0; i < n; ++i) {
    BBX_INFO(BENCH_FOUR_FMT, i, ms, 200, user);
    ms += 0.5;
  }
}

// The same message as a printf-style call (BBX_INFOF), and as fprintf to a buffered file.
__attribute__((noinline)) void bbx_run_printf_four_args(std::uint64_t n) {
  double ms = 0.25;
  const char* user = g_user;
  for (std::uint64_t i = 0; i < n; ++i) {
    BBX_INFOF(BENCH_FOUR_PF, static_cast<unsigned long long>(i), ms, 200, user);
    ms += 0.5;
  }
}

__attribute__((noinline)) void bbx_run_fprintf_four_args(std::uint64_t n) {
  std::FILE* f = bench::peers().printf_file();
  double ms = 0.25;
  const char* user = g_user;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::fprintf(f, BENCH_FOUR_PF, static_cast<unsigned long long>(i), ms, 200, user);
    ms += 0.5;
  }
}

// Peers, same message, for the same count on the logging thread (spdlog's worker thread
// is not counted: --toggle-collect follows only the calling thread's function).
__attribute__((noinline)) void bbx_run_spdlog_async_four_args(std::uint64_t n) {
  auto& log = bench::peers().spdlog_async();
  double ms = 0.25;
  const char* user = g_user;
  for (std::uint64_t i = 0; i < n; ++i) {
    log.info(BENCH_FOUR_FMT, i, ms, 200, user);
    ms += 0.5;
  }
}

__attribute__((noinline)) void bbx_run_fmt_fwrite_four_args(std::uint64_t n) {
  std::FILE* f = bench::peers().fmt_file();
  auto& buf = bench::peers().fmt_buffer();
  double ms = 0.25;
  const char* user = g_user;
  for (std::uint64_t i = 0; i < n; ++i) {
    buf.clear();
    fmt::format_to(std::back_inserter(buf), BENCH_FOUR_FMT, i, ms, 200, user);
    buf.push_back('\n');
    std::fwrite(buf.data(), 1, buf.size(), f);
    ms += 0.5;
  }
}

// The "service" workload of archive_bench (varied ids, latencies, statuses and users).
__attribute__((noinline)) void bbx_run_four_args_service(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) {
    const bench::Values v = bench::values(1, i);
    BBX_INFO(BENCH_FOUR_FMT, v.id, v.ms, v.status, v.user);
  }
}

__attribute__((noinline)) void bbx_run_two_ints(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) BBX_INFO(BENCH_TWO_INT_FMT, i, i * 3);
}

// A span per iteration: its start record (one integer) and its end record.
__attribute__((noinline)) void bbx_run_span(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) {
    BBX_SPAN("request {i}", i);
  }
}

// The class form: a name known at run time.
__attribute__((noinline)) void bbx_run_span_class(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) {
    const blackbox::Span span("request");
  }
}

// The class form with two integer fields.
__attribute__((noinline)) void bbx_run_span_class_fields(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) {
    const blackbox::Span span("request", blackbox::field<"i">(i), blackbox::field<"j">(i * 3));
  }
}

__attribute__((noinline)) void bbx_run_static_string(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) BBX_INFO(BENCH_STATIC_FMT);
}

__attribute__((noinline)) void bbx_run_disabled(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) BBX_DEBUG("disabled {}", i);
}

// Rate limits (main() sets "limited=1/h,generous=1000000000/s"): the four-argument call
// suppressed (its one token went at run(1)), and kept by a bucket that never runs dry.
__attribute__((noinline)) void bbx_run_suppressed(std::uint64_t n) {
  double ms = 0.25;
  const char* user = g_user;
  for (std::uint64_t i = 0; i < n; ++i) {
    BBX_LOG("limited", blackbox::Level::info, BENCH_FOUR_FMT, i, ms, 200, user);
    ms += 0.5;
  }
}
__attribute__((noinline)) void bbx_run_limited_kept(std::uint64_t n) {
  double ms = 0.25;
  const char* user = g_user;
  for (std::uint64_t i = 0; i < n; ++i) {
    BBX_LOG("generous", blackbox::Level::info, BENCH_FOUR_FMT, i, ms, 200, user);
    ms += 0.5;
  }
}
// A sampled site (BBX_*_EVERY_N) whose calls are sampled out after the first.
__attribute__((noinline)) void bbx_run_every_n_skipped(std::uint64_t n) {
  double ms = 0.25;
  const char* user = g_user;
  for (std::uint64_t i = 0; i < n; ++i) {
    BBX_INFO_EVERY_N(1'000'000'000'000, BENCH_FOUR_FMT, i, ms, 200, user);
    ms += 0.5;
  }
}

// The log-linear histogram (the telemetry's, and the metrics'): one value recorded per
// iteration, spread over six decades (a multiplicative hash of i, so no branch predicts it).
__attribute__((noinline)) void bbx_run_histogram_record(std::uint64_t n) {
  static blackbox::LogHistogram h;
  for (std::uint64_t i = 0; i < n; ++i) h.record((i * 2654435761u) % 10'000'000);
  asm volatile("" ::"r"(h.count()) : "memory");
}

// Application metrics (blackbox/metrics.hpp) and prometheus-cpp's, one update per
// iteration. The histograms record the values above; metric_values is that value
// computation alone, to subtract from the histogram kinds.
__attribute__((noinline)) void bbx_run_metric_values(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) {
    asm volatile("" ::"r"((i * 2654435761u) % 10'000'000) : "memory");
  }
}

const blackbox::Counter g_counter{"bench.requests", {{"route", "/login"}}};
const blackbox::Gauge g_gauge{"bench.depth"};
const blackbox::Histogram g_histogram{"bench.latency", {}, blackbox::MetricUnit::nanoseconds};

__attribute__((noinline)) void bbx_run_counter_add(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) {
    g_counter.add();
    asm volatile("" ::: "memory");  // one add per iteration (no merging into one)
  }
}

__attribute__((noinline)) void bbx_run_gauge_set(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) {
    g_gauge.set(static_cast<std::int64_t>(i));
    asm volatile("" ::: "memory");
  }
}

__attribute__((noinline)) void bbx_run_metric_histogram_record(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) g_histogram.record((i * 2654435761u) % 10'000'000);
}

__attribute__((noinline)) void bbx_run_prometheus_counter_inc(std::uint64_t n) {
  prometheus::Counter& c = bench::prometheus_counter();
  for (std::uint64_t i = 0; i < n; ++i) c.Increment();
}

__attribute__((noinline)) void bbx_run_prometheus_gauge_set(std::uint64_t n) {
  prometheus::Gauge& g = bench::prometheus_gauge();
  for (std::uint64_t i = 0; i < n; ++i) g.Set(static_cast<double>(i));
}

__attribute__((noinline)) void bbx_run_prometheus_histogram_observe(std::uint64_t n) {
  prometheus::Histogram& h = bench::prometheus_histogram();
  for (std::uint64_t i = 0; i < n; ++i) {
    h.Observe(static_cast<double>((i * 2654435761u) % 10'000'000));
  }
}

}  // extern "C"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(
        stderr,
        "usage: instr_count KIND N  (KIND: four_args four_args_std_string two_ints static_string\n"
        "        span span_class span_class_fields\n"
        "        disabled suppressed limited_kept every_n_skipped spdlog_async_four_args "
        "fmt_fwrite_four_args empty flusher_four_args\n    "
        "    flusher_four_args_service printf_four_args fprintf_four_args\n"
        "        flusher_console_text flusher_console_json histogram_record\n"
        "        metric_values counter_add gauge_set metric_histogram_record\n"
        "        prometheus_counter_inc prometheus_gauge_set prometheus_histogram_observe)\n");
    return 2;
  }
  const std::uint64_t n = std::strtoull(argv[2], nullptr, 10);
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "instr_count";
  const char* bench_dir = std::getenv("BBX_BENCH_DIR");
  config.archive_dir = std::string(bench_dir != nullptr ? bench_dir : "/tmp/blackbox-bench") +
                       "/instr_count_archive";
  // flusher_four_args: the flusher's instructions per record (callgrind.sh counts inside
  // Flusher::pass). The ring holds all N records, so one pass at flush() drains them all.
  // flusher_console_*: the same with the console on (text or JSON lines to stderr, which
  // callgrind.sh sends to /dev/null): what the console adds to the flusher thread.
  const bool console_text = std::strcmp(argv[1], "flusher_console_text") == 0;
  const bool console_json = std::strcmp(argv[1], "flusher_console_json") == 0;
  const bool flusher = std::strcmp(argv[1], "flusher_four_args") == 0 ||
                       std::strcmp(argv[1], "flusher_four_args_service") == 0 || console_text ||
                       console_json;
  config.console = console_text ? "on" : console_json ? "json" : "off";
  if (flusher) {
    config.ring_bytes = 256u << 20;
    config.max_threads = 4;
    config.flush_interval_ms = 60000;
  }
  config.rate_limits = "limited=1/h,generous=1000000000/s";
  (void)blackbox::init(config);
  // Warm up outside the counted function: the thread's slot and each site's definition.
  BBX_INFO("warm up {}", 1);
  const char* kind = argv[1];
  void (*run)(std::uint64_t) = nullptr;
  if (std::strcmp(kind, "four_args") == 0) run = bbx_run_four_args;
  if (std::strcmp(kind, "four_args_std_string") == 0) run = bbx_run_four_args_std_string;
  if (std::strcmp(kind, "two_ints") == 0) run = bbx_run_two_ints;
  if (std::strcmp(kind, "spdlog_async_four_args") == 0) run = bbx_run_spdlog_async_four_args;
  if (std::strcmp(kind, "fmt_fwrite_four_args") == 0) run = bbx_run_fmt_fwrite_four_args;
  if (std::strcmp(kind, "static_string") == 0) run = bbx_run_static_string;
  if (std::strcmp(kind, "printf_four_args") == 0) run = bbx_run_printf_four_args;
  if (std::strcmp(kind, "fprintf_four_args") == 0) run = bbx_run_fprintf_four_args;
  if (std::strcmp(kind, "span") == 0) run = bbx_run_span;
  if (std::strcmp(kind, "span_class") == 0) run = bbx_run_span_class;
  if (std::strcmp(kind, "span_class_fields") == 0) run = bbx_run_span_class_fields;
  if (std::strcmp(kind, "disabled") == 0) run = bbx_run_disabled;
  if (std::strcmp(kind, "suppressed") == 0) run = bbx_run_suppressed;
  if (std::strcmp(kind, "limited_kept") == 0) run = bbx_run_limited_kept;
  if (std::strcmp(kind, "every_n_skipped") == 0) run = bbx_run_every_n_skipped;
  if (std::strcmp(kind, "empty") == 0) run = bbx_run_empty;
  if (std::strcmp(kind, "histogram_record") == 0) run = bbx_run_histogram_record;
  if (std::strcmp(kind, "metric_values") == 0) run = bbx_run_metric_values;
  if (std::strcmp(kind, "counter_add") == 0) run = bbx_run_counter_add;
  if (std::strcmp(kind, "gauge_set") == 0) run = bbx_run_gauge_set;
  if (std::strcmp(kind, "metric_histogram_record") == 0) run = bbx_run_metric_histogram_record;
  if (std::strcmp(kind, "prometheus_counter_inc") == 0) run = bbx_run_prometheus_counter_inc;
  if (std::strcmp(kind, "prometheus_gauge_set") == 0) run = bbx_run_prometheus_gauge_set;
  if (std::strcmp(kind, "prometheus_histogram_observe") == 0) {
    run = bbx_run_prometheus_histogram_observe;
  }
  if (std::strcmp(kind, "flusher_four_args") == 0) run = bbx_run_four_args;
  if (std::strcmp(kind, "flusher_four_args_service") == 0) run = bbx_run_four_args_service;
  if (console_text || console_json) run = bbx_run_four_args;
  if (run == nullptr) return 2;
  run(1);  // defines the site (slow path, once) before the counted run
  if (flusher) {
    // As in production, where the flusher is woken every quarter ring (~5,000 records of
    // this size): chunks of 5,000 records, so buffers reach their steady size.
    for (std::uint64_t done = 0; done < n; done += 5000) {
      run(std::min<std::uint64_t>(5000, n - done));
      (void)blackbox::flush();
    }
  } else {
    run(n);
  }
  bench::peers().drain();
  blackbox::shutdown();
  std::error_code ignored;
  std::filesystem::remove_all(config.archive_dir, ignored);
  return 0;
}
