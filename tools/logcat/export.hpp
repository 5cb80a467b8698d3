// Exports for the tools people already use: `-o otlp` writes OpenTelemetry log records in
// the OTLP/JSON encoding (one ExportLogsServiceRequest per line, as the OpenTelemetry
// Collector's file exporter and receiver read them); `-o chrome` writes the Chrome Trace
// Event Format (JSON object form) that Perfetto UI and chrome://tracing open: records as
// instant events, spans as complete events, one track per thread, processes and threads
// named. Both stream: records go out as they come, in bounded memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "blackbox/reader.hpp"
#include "render.hpp"

namespace logcat {

// What is known of the process that logged a record (from its archive file's header or its
// ring file).
struct ProcessFacts {
  std::string app;
  std::string host;
};
using ProcessLookup = std::function<ProcessFacts(const blackbox::Record&)>;

// A record's identity as OTLP's log.record.uid ("PID-START_NS-SLOT-SEQUENCE"): the same
// record exported twice has the same uid, which is how a receiver drops a duplicate.
[[nodiscard]] std::string record_uid(const blackbox::Record& r);

class Exporter {
 public:
  virtual ~Exporter() = default;
  // Appends what `r` adds (possibly nothing yet: records are batched) to `out`.
  virtual void add(const blackbox::Record& r, Text& out) = 0;
  // Appends everything still held: a read is over (for following, where more may come).
  virtual void flush(Text& out) = 0;
  // Appends the end of the document (after flush).
  virtual void finish(Text& out) = 0;
};

// `batch`: records per ExportLogsServiceRequest (a line).
[[nodiscard]] std::unique_ptr<Exporter> make_otlp_exporter(ProcessLookup lookup,
                                                           std::size_t batch = 512);
[[nodiscard]] std::unique_ptr<Exporter> make_chrome_exporter(ProcessLookup lookup);

}  // namespace logcat
