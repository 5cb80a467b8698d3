// Asking a live process, from outside, through its ring file: its telemetry (what the logger
// knows about itself), its levels, and requests to change them, flush, rotate or dump.
// No agent, no port: whoever may write the ring file (its user, or root) may ask; the
// process applies a request within one flush interval (Config::flush_interval_ms, or the
// console's if shorter), from its flusher thread, and records it as an audit record (tag
// "blackbox"). `logcat ctl`, `logcat top` and `logcat stats -p` are built on this.
//
// Ring files of format version 1 (before the control region) have neither: the readers
// return nullopt and send_control() says so.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "blackbox/level.hpp"
#include "blackbox/log_histogram.hpp"

namespace blackbox {

// What the logger counts about itself, as its ring file shows it (each field at most one
// flusher pass old). Records and bytes are those the flusher read from the rings; with the
// archive off it does not read them and those counts stay 0.
struct Telemetry {
  struct Counts {
    std::uint64_t records = 0, bytes = 0;
  };
  struct Tag {
    std::string tag;
    Counts counts;
  };
  // A ring slot: the thread that holds it (or held it last) and what the flusher read from
  // it since the process started (slots pass from exited threads to new ones).
  struct Thread {
    std::uint32_t slot = 0;
    std::uint32_t tid = 0;
    std::string name;
    bool live = false;  // a thread holds the slot now
    Counts counts;
    // Records logged into the slot since the process started, counted from the ring itself
    // (live, whether or not the flusher has run): a rate comes from two readings.
    std::uint64_t logged = 0;
    std::uint64_t lost = 0;    // overwritten (or damaged) before the flusher read them
    std::int64_t last_ns = 0;  // wall clock of the latest record read
  };

  std::int64_t updated_ns = 0;  // wall clock of the flusher's latest publication (0: never)
  std::uint64_t passes = 0;
  // Every record logged before this is in the archive or counted lost (0: nothing yet). The
  // archive's lag, at time T, is T minus this.
  std::int64_t archived_through_ns = 0;
  Counts read;                        // by the flusher, from the rings
  std::array<Counts, 6> per_level{};  // trace .. fatal
  std::vector<Tag> per_tag;           // in the order first seen; "(other tags)" past 127
  std::vector<Thread> threads;        // slots that were ever used
  std::uint64_t records_archived = 0;
  std::uint64_t archive_bytes_written = 0;  // compressed, with framing
  std::uint64_t archive_files_created = 0, archive_files_deleted = 0;
  // Losses by cause (exact record counts).
  std::uint64_t lost_overwritten = 0;      // a producer lapped the flusher
  std::uint64_t lost_no_slot = 0;          // every ring slot was taken
  std::uint64_t lost_disk_error = 0;       // the archive could not be written
  std::uint64_t lost_site_table_full = 0;  // the call site could not be defined
  std::uint64_t lost_after_exit = 0;       // logged after the thread or logger ended
  std::uint64_t lost_corrupt = 0;          // failed validation in the ring
  std::uint64_t lost_rate_limited = 0;     // suppressed by a rate limit (Config::rate_limits)
  std::uint64_t console_lines = 0;
  std::uint64_t console_not_shown = 0;  // lines the console could not take
  // The archive's circuit breaker.
  bool breaker_open = false;
  std::uint64_t breaker_trips = 0;
  std::uint64_t write_errors = 0;
  int last_errno = 0;
  std::uint64_t control_applied = 0;  // requests from outside applied
  // Config::when_full = wait: block claims that waited for the archive, how long in total
  // (ns), and how many overwrote unarchived records after all (max_wait reached; the records
  // are in lost_overwritten).
  std::uint64_t producer_waits = 0;
  std::uint64_t producer_wait_ns = 0;
  std::uint64_t producer_gave_up = 0;
  // Archive files retention deleted although a retention hold kept them (over
  // Config::retain_unshipped_bytes: a shipper had not finished them), and their bytes.
  std::uint64_t archive_files_deleted_unshipped = 0;
  std::uint64_t archive_bytes_deleted_unshipped = 0;
  // The failure budget (Config::loss_budget): the budget, a share of records (0: none); when
  // the losses of a minute first went over it (wall clock; 0: never); the records and losses
  // (every cause) of the last minute, or of the run while it is younger.
  double loss_budget = 0;
  std::int64_t budget_exceeded_ns = 0;
  std::uint64_t minute_records = 0, minute_lost = 0;
  // The last minute's losses by cause: overwritten, no slot, disk error, site table full,
  // after exit, corrupt, rate limited, console lines not shown (each at most 2^32 - 1).
  std::array<std::uint64_t, 8> minute_by_cause{};
  LogHistogram pass_ns;   // the flusher's passes (ns each)
  LogHistogram write_ns;  // its archive writes (ns each)

  [[nodiscard]] std::uint64_t lost() const noexcept {
    return lost_overwritten + lost_no_slot + lost_disk_error + lost_site_table_full +
           lost_after_exit + lost_corrupt + lost_rate_limited;
  }
  // Records logged into the rings (every thread's `logged`) or lost before them (no slot, site
  // table, after exit, rate limited): what a loss is a share of.
  [[nodiscard]] std::uint64_t records() const noexcept {
    std::uint64_t n = lost_no_slot + lost_site_table_full + lost_after_exit + lost_rate_limited;
    for (const Thread& t : threads) n += t.logged;
    return n;
  }
  // Ring bytes read per archive byte written (0 before the first write).
  [[nodiscard]] double compression_ratio() const noexcept {
    return archive_bytes_written == 0
               ? 0
               : static_cast<double>(read.bytes) / static_cast<double>(archive_bytes_written);
  }
};

// A level set from outside for a while (logcat ctl level --for): the process reverts it by
// itself at until_ns, whether or not whoever asked is still there.
struct TimedLevel {
  std::string tag;                 // "" for the default level
  Level level = Level::info;       // set
  Level back_level = Level::info;  // what it reverts to
  bool back_to_default = false;    // the tag had no level of its own: it goes back to none
  std::int64_t until_ns = 0;       // wall clock
  std::int32_t pid = 0;            // who asked
  std::uint32_t uid = 0;
};

// The levels a process runs with, as its ring file shows them.
struct LevelsState {
  std::string spec;  // "info,net=debug": the default level, then each tag with its own
  std::vector<TimedLevel> timed;
  std::uint64_t requests_waiting = 0;  // sent, not applied yet
};

// Reads them from a ring file (or a dump). nullopt with `error` set if it cannot be read
// or is of format version 1. Never writes.
[[nodiscard]] std::optional<Telemetry> read_telemetry(const std::string& ring_path,
                                                      std::string* error = nullptr);
[[nodiscard]] std::optional<LevelsState> read_levels(const std::string& ring_path,
                                                     std::string* error = nullptr);

// A request to a live process.
struct ControlRequest {
  // rate: replace the rate limits with `rate_spec` (Config::rate_limits' form; "" removes
  // them); rates: only answer with the rate limits in force.
  enum class Kind { level, flush, rotate, dump, rate, rates };
  Kind kind = Kind::level;
  // level: `tag`'s level, or the default level if `tag` is empty; for_ns > 0 reverts it
  // after that long.
  std::string tag;
  Level level = Level::info;
  std::int64_t for_ns = 0;
  // dump: an absolute path for the dump (replaced if it exists), or "" for the process's
  // dump directory (Config::crash_dir, else its ring directory).
  std::string path;
  std::string rate_spec;  // rate: at most 255 bytes
};

struct ControlReply {
  bool applied = false;  // false: the process refused it, `result` says why
  std::string result;    // what it did ("level of net set to debug for 10m"), or why not
};

// Sends `request` to the process whose ring file is `ring_path` and waits up to `timeout_ns`
// for it to apply it. Returns "" and fills `reply`, or says what went wrong: not a live
// process's ring file, no permission to write it (another user's process), format version
// 1, or no answer in time (the request then stays queued, and the process applies it when
// it can). Requests from several senders are serialised (a lock in the file, released by
// the kernel if a sender dies). The request names this process's pid and uid.
[[nodiscard]] std::string send_control(const std::string& ring_path, const ControlRequest& request,
                                       ControlReply& reply,
                                       std::int64_t timeout_ns = 10'000'000'000);

// Tests only: send_control() claims this pid and uid (pid 0: the real ones again), as a
// requester writing the control area by hand could; the process's audit record must show
// the claim for what it is. Not thread-safe.
void claim_identity_for_testing(std::int32_t pid, std::uint32_t uid);

}  // namespace blackbox
