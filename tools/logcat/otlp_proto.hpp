// OTLP log records in the protobuf encoding (opentelemetry-proto: collector/logs/v1,
// logs/v1, common/v1, resource/v1), with the record mapping of `-o otlp` (export.cpp): a
// ResourceLogs per process (service.name, process.pid, host.name), a ScopeLogs per tag,
// the message as the body, the template's fields as attributes, then log.record.uid,
// thread.id, thread.name and the code.* attributes. Encoded with protozero (Debian's
// libprotozero-dev): field numbers are written here, checked by a receiver that decodes
// with the OpenTelemetry .proto files (tests/ship/otlp_receiver.mjs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "blackbox/reader.hpp"
#include "export.hpp"

namespace logcat {

// An ExportLogsServiceRequest being filled: records are encoded as they are added (into
// their process's and tag's group), the request is assembled once at the end.
class OtlpProtoBatch {
 public:
  void add(const blackbox::Record& r, const ProcessFacts& process);
  // The encoded log records' bytes so far (the request adds a few per group).
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }
  [[nodiscard]] bool empty() const noexcept { return resources_.empty(); }
  // Appends the ExportLogsServiceRequest of every record added to `out`.
  void encode(std::string& out) const;
  void clear();

 private:
  struct Scope {
    std::string name;                 // the tag
    std::string records;              // LogRecord messages, one after the other
    std::vector<std::uint32_t> ends;  // where each ends in `records`
  };
  struct Resource {
    std::int32_t pid = 0;
    std::int64_t start_ns = 0;
    ProcessFacts facts;
    std::vector<Scope> scopes;
  };
  std::vector<Resource> resources_;  // in order of first appearance
  std::size_t bytes_ = 0;
};

// The partial success of an OTLP/HTTP answer (an ExportLogsServiceResponse, protobuf or
// JSON): how many records the receiver rejected and why. False if `body` is not one.
bool parse_otlp_response(std::string_view body, bool json, std::uint64_t& rejected,
                         std::string& message);

}  // namespace logcat
