// `logcat ship`: a long-running shipper that delivers every record of the inputs (archive
// directories and live rings, as `logcat -f` follows them) to a destination, each record
// once. Its position is a cursor (cursor.hpp) kept in a state file that is replaced
// atomically only after the destination acknowledged a batch, so a restart, or a kill -9,
// resumes exactly there. Batches close by records, bytes or age; a batch is retried with
// exponential back-off and jitter on connection errors, timeouts, 429 and 5xx (a
// Retry-After is honoured) and never dropped: the archive holds the records meanwhile.
//
// Destinations (--to): destination.hpp (ClickHouse over HTTP, OTLP/HTTP).
//
// Retention: in each archive directory it reads, the shipper keeps a retention hold
// (blackbox/retention.hpp) at its cursor's floor, refreshed after acknowledged batches (at
// most once a second) and at exit, so the services' retention keeps the files it has not
// finished (up to Config::retain_unshipped_bytes).
//
// Its own telemetry is the logger's: the shipper logs (app "logcat-ship") into a ring file
// of its own, so `logcat top`, `logcat metrics -p PID` and `logcat -p PID` read it like any
// service: metrics logcat.ship.{records,batches,retries,rejected,bytes_sent,row_bytes}
// (counters), logcat.ship.{lag,pending} (gauges), logcat.ship.state (text), and a warning
// record for each failed try.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "cursor.hpp"
#include "destination.hpp"
#include "export.hpp"
#include "select.hpp"
#include "sources.hpp"

namespace logcat {

struct ShipArgs {
  std::string to;     // the destination URL
  std::string state;  // the state file (the cursor of the last acknowledged batch)
  std::size_t batch_records = 10'000;
  std::size_t batch_bytes = 4u << 20;  // of rows, before compression
  double batch_wait_s = 1.0;           // the oldest record of a batch waits at most this
  double backoff_max_s = 30.0;         // the longest wait between two tries
  double interval_s = 0.2;             // the longest wait between two polls of the inputs
  bool once = false;                   // ship what is there, then exit (no following)
  bool telemetry = true;               // log and keep metrics in a ring file of our own
  HttpOptions http;                    // timeout, compression, headers
  // Archive directories to keep a retention hold in (blackbox/retention.hpp): retention there
  // keeps the files this shipper has not finished.
  std::vector<std::string> hold_dirs;
};

// The name of the retention hold of the shipper whose state file is `state`: "ship-" and a
// hash of its absolute path (each shipper of a directory holds for itself).
[[nodiscard]] std::string hold_name(const std::string& state);

// Ships until interrupted (SIGINT, SIGTERM: the open batch is sent first) or, with `once`,
// until everything read is delivered. Returns the exit status: 0, 1 when a batch was
// refused for good (a 4xx other than 429: the records are not the destination's kind, and
// the cursor stays before them), 2 for a bad URL or state file.
// `resume`: the state file's cursor (none yet: from the first record).
int run_ship(const ShipArgs& args, Inputs& inputs, const Selection& selection,
             const ProcessLookup& process, const std::optional<Cursor>& resume);

}  // namespace logcat
