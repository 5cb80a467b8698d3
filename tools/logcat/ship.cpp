// `logcat ship` (ship.hpp): batches of rows, delivered and acknowledged before the cursor
// moves past them.
#include "ship.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>

#include "blackbox/blackbox.hpp"
#include "blackbox/metrics.hpp"
#include "blackbox/retention.hpp"
#include "cursor.hpp"

namespace logcat {
namespace {

using blackbox::Record;

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }

// Waits `seconds` in short naps, so that a stop signal ends it at once. False: stopped.
bool nap(double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!g_stop.load()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) return true;
    const auto left = std::chrono::duration<double>(until - now).count();
    const double step = std::min(left, 0.05);
    const timespec pause{
        static_cast<time_t>(step),
        static_cast<long>((step - static_cast<double>(static_cast<time_t>(step))) * 1e9)};
    nanosleep(&pause, nullptr);
  }
  return false;
}

// The shipper's telemetry (ship.hpp): metrics in its own ring file, read as any service's.
// Tagged with the destination (its URL without the query).
struct Telemetry {
  explicit Telemetry(const std::string& url)
      : to(url.substr(0, std::min(url.find('?'), std::size_t{100}))),
        records{"logcat.ship.records", {{"to", to}}, "records the destination acknowledged"},
        batches{"logcat.ship.batches", {{"to", to}}, "batches the destination acknowledged"},
        retries{"logcat.ship.retries", {{"to", to}}, "failed tries of a batch (tried again)"},
        rejected{"logcat.ship.rejected",
                 {{"to", to}},
                 "records acknowledged but rejected (OTLP partial success)"},
        bytes_sent{"logcat.ship.bytes_sent", {{"to", to}}, "bytes of requests, compressed"},
        row_bytes{"logcat.ship.row_bytes", {{"to", to}}, "bytes of acknowledged batches"},
        lag{"logcat.ship.lag",
            {{"to", to}},
            blackbox::MetricUnit::nanoseconds,
            "how long the oldest record read and not yet acknowledged has waited"},
        pending{"logcat.ship.pending",
                {{"to", to}},
                blackbox::MetricUnit::none,
                "records read and not yet acknowledged"},
        state{"logcat.ship.state", {{"to", to}}, "shipping, retrying or refused"} {}
  std::string to;
  blackbox::Counter records, batches, retries, rejected, bytes_sent, row_bytes;
  blackbox::Gauge lag, pending;
  blackbox::TextMetric state;
};

// Keeps the retention holds of `dirs` at a cursor's floor: at most once a second unless
// told to, each error said once.
class Holds {
 public:
  Holds(const ShipArgs& args) : dirs_(args.hold_dirs), name_(hold_name(args.state)) {}
  void set(const Cursor& acked, bool now) {
    const auto t = std::chrono::steady_clock::now();
    const std::int64_t through = acked.through_ns();
    if (through == last_ || (!now && t - last_set_ < std::chrono::seconds(1))) return;
    last_set_ = t;
    last_ = through;
    for (const std::string& dir : dirs_) {
      const std::string e = blackbox::set_retention_hold(dir, name_, through);
      if (!e.empty() && said_.insert(e).second) {
        std::fprintf(stderr, "logcat ship: retention hold: %s\n", e.c_str());
      }
    }
  }

 private:
  std::vector<std::string> dirs_;
  std::string name_;
  std::chrono::steady_clock::time_point last_set_{};
  std::optional<std::int64_t> last_;
  std::set<std::string> said_;
};

}  // namespace

std::string hold_name(const std::string& state) {
  // FNV-1a, 64 bits, of the absolute path: stable across runs, different per state file.
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : std::filesystem::absolute(state).lexically_normal().string()) {
    h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  }
  return fmt::format("ship-{:016x}", h);
}

int run_ship(const ShipArgs& args, Inputs& inputs, const Selection& selection,
             const ProcessLookup& process, const std::optional<Cursor>& resume) {
  std::string error;
  const std::unique_ptr<Destination> destination = make_destination(args.to, args.http, error);
  if (!destination) {
    std::fprintf(stderr, "logcat ship: %s\n", error.c_str());
    return 2;
  }
  std::optional<Telemetry> telemetry;
  if (args.telemetry) {
    blackbox::Config config = blackbox::Config::from_env();
    config.app = "logcat-ship";
    config.console = "off";  // its lines go to stderr as they are
    // A ring only: its records and metrics are read live (logcat top, logcat metrics), and it
    // never writes into the archive it reads (BBX_ARCHIVE_DIR is what it ships).
    config.archive_dir.clear();
    if (const blackbox::InitResult r = blackbox::init(config); !r.ok()) {
      std::fprintf(stderr, "logcat ship: telemetry: %s\n", r.error.c_str());
    }
    telemetry.emplace(args.to);
    telemetry->state.set("shipping");
  }
  g_stop.store(false);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  Cursor acked = resume.value_or(Cursor{});  // what the destination has
  Cursor pending = acked;                    // ... and the open batch too
  Holds holds(args);
  holds.set(acked, true);
  std::size_t batch = 0;
  std::int64_t oldest_ns = 0;  // the wall-clock time of the batch's first record
  auto first_added = std::chrono::steady_clock::now();
  std::mt19937_64 jitter(std::random_device{}());
  bool refused = false;
  // What this run did, said on stderr at its end.
  std::uint64_t shipped = 0, batches = 0, retries = 0, row_bytes = 0, rejected = 0;

  auto show_lag = [&] {
    if (!telemetry) return;
    telemetry->pending.set(static_cast<std::int64_t>(batch));
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    const std::int64_t now_ns = now.tv_sec * 1'000'000'000ll + now.tv_nsec;
    telemetry->lag.set(batch == 0 ? 0 : std::max<std::int64_t>(0, now_ns - oldest_ns));
  };
  // Sends the open batch until the destination has it (or a stop, or a refusal). The
  // cursor moves, on disk, only then.
  auto deliver = [&]() -> bool {
    if (batch == 0) return true;
    double backoff = 0.25;
    Outcome o;
    for (int attempt = 0;; ++attempt) {
      const std::uint64_t sent_before = destination->bytes_sent();
      o = destination->send();
      if (telemetry) telemetry->bytes_sent.add(destination->bytes_sent() - sent_before);
      if (o.kind == Outcome::Kind::delivered) break;
      ++retries;
      if (o.kind == Outcome::Kind::refused) {
        std::fprintf(stderr, "logcat ship: a batch of %zu records was refused (%s); stopping\n",
                     batch, o.what.c_str());
        if (telemetry) {
          telemetry->state.set("refused");
          BBX_LOG("ship", blackbox::Level::error,
                  "a batch of {records} records was refused for good: {what}", batch, o.what);
        }
        refused = true;
        return false;
      }
      // Exponential, with full jitter over its upper half; a Retry-After wins.
      const double wait =
          o.retry_after_s >= 0
              ? std::min(o.retry_after_s, args.backoff_max_s)
              : backoff * (0.5 + 0.5 * std::uniform_real_distribution<double>(0, 1)(jitter));
      std::fprintf(stderr, "logcat ship: %s; try %d again in %.2f s\n", o.what.c_str(), attempt + 2,
                   wait);
      if (telemetry) {
        telemetry->retries.add();
        telemetry->state.set("retrying");
        BBX_LOG("ship", blackbox::Level::warn,
                "a batch of {records} records failed ({what}); try {try} in {wait_s:.2f} s", batch,
                o.what, attempt + 2, wait);
        show_lag();
      }
      backoff = std::min(backoff * 2, args.backoff_max_s);
      if (!nap(wait)) return false;
    }
    if (o.rejected != 0) {
      rejected += o.rejected;
      std::fprintf(stderr, "logcat ship: %s\n", o.what.c_str());
      if (telemetry) {
        telemetry->rejected.add(o.rejected);
        BBX_LOG("ship", blackbox::Level::warn,
                "the destination rejected {rejected} of a batch's {records} records: {what}",
                o.rejected, batch, o.what);
      }
    }
    acked = pending;
    shipped += batch;
    ++batches;
    row_bytes += destination->bytes();
    if (telemetry) {
      telemetry->records.add(batch);
      telemetry->batches.add();
      telemetry->row_bytes.add(destination->bytes());
      telemetry->state.set("shipping");
    }
    destination->clear();
    batch = 0;
    show_lag();
    if (const std::string e = write_cursor_file(args.state, acked); !e.empty()) {
      std::fprintf(stderr, "logcat ship: %s\n", e.c_str());
      return false;
    }
    holds.set(acked, false);  // after the state file: a hold never runs ahead of the cursor
    return true;
  };
  auto due = [&] {
    return batch >= args.batch_records || destination->bytes() >= args.batch_bytes ||
           (batch != 0 &&
            std::chrono::duration<double>(std::chrono::steady_clock::now() - first_added).count() >=
                args.batch_wait_s);
  };
  auto take = [&](const Record& r) {
    if (g_stop.load()) return false;
    if (resume && resume->seen(r)) return true;
    if (!selection.pass_decoded(r)) return true;
    if (batch == 0) {
      first_added = std::chrono::steady_clock::now();
      oldest_ns = r.time_ns;
    }
    destination->add(r, process(r));
    pending.advance(r);
    ++batch;
    return !due() || deliver();
  };

  inputs.read_all(take);
  const double busy_s = std::min(0.01, args.interval_s);
  double wait_s = busy_s;
  while (!args.once && !g_stop.load() && !refused) {
    if (due() && !deliver()) break;
    show_lag();
    if (!nap(batch != 0 ? std::min(wait_s, args.batch_wait_s) : wait_s)) break;
    const std::size_t got = inputs.read_new(take);
    wait_s = got != 0 ? busy_s : std::min(2 * wait_s, args.interval_s);
  }
  // The open batch goes out before the end (a stop signal stops it only while it waits).
  // A second signal ends that wait: the batch is then sent again by the next start.
  if (!refused) {
    g_stop.store(false);
    (void)deliver();
  }
  holds.set(acked, true);
  std::fprintf(stderr,
               "logcat ship: %llu records in %llu batches (%llu bytes of rows, %llu sent), "
               "%llu tries again, %llu rejected\n",
               static_cast<unsigned long long>(shipped), static_cast<unsigned long long>(batches),
               static_cast<unsigned long long>(row_bytes),
               static_cast<unsigned long long>(destination->bytes_sent()),
               static_cast<unsigned long long>(retries), static_cast<unsigned long long>(rejected));
  return refused ? 1 : 0;
}

}  // namespace logcat
