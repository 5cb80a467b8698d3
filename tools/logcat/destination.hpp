// Where `logcat ship` delivers (ship.hpp): a destination fills a batch record by record,
// then sends it, as many times as it takes, and says what each try came to. The same
// batch goes out byte for byte on every try (a receiver that saw it once sees the same
// request again).
//
//   clickhouse+http://HOST[:PORT]/?table=NAME[&database=DB][&SETTING=VALUE...]  (port 8123)
//     INSERT ... FORMAT JSONEachRow into the table of docs/shipping.md, with the ClickHouse
//     settings given (insert_distributed_sync=1, ...). Tried again on connection errors,
//     timeouts, 429 and 5xx.
//   otlp+http://HOST[:PORT][/PATH][?encoding=protobuf|json]       (port 4318, /v1/logs)
//     An OTLP/HTTP ExportLogsServiceRequest (protobuf by default), the record mapping of
//     `-o otlp`. Tried again on connection errors, timeouts, 429, 502, 503 and 504, the
//     codes the OTLP specification calls retryable; a partial success counts the records
//     the receiver rejected (not sent again: the specification forbids it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "blackbox/reader.hpp"
#include "export.hpp"

namespace logcat {

struct HttpOptions {
  double timeout_s = 10.0;           // connect, read and write, per request
  std::string compress = "gzip";     // gzip, zstd or none (Content-Encoding)
  std::vector<std::string> headers;  // "Name: value", sent with every request
};

// What a try of a batch came to.
struct Outcome {
  enum class Kind { delivered, retry, refused } kind = Kind::delivered;
  std::string what;            // for the log line
  double retry_after_s = -1;   // the receiver's Retry-After, if it said
  std::uint64_t rejected = 0;  // delivered, but this many records refused (OTLP)
};

class Destination {
 public:
  virtual ~Destination() = default;
  virtual void add(const blackbox::Record& r, const ProcessFacts& process) = 0;
  // Bytes of the open batch before compression (OTLP/JSON: an estimate).
  [[nodiscard]] virtual std::size_t bytes() const = 0;
  // Sends the open batch once (the same bytes every time until clear()).
  virtual Outcome send() = 0;
  virtual void clear() = 0;
  // Bytes sent, compressed, over every try.
  [[nodiscard]] std::uint64_t bytes_sent() const noexcept { return bytes_sent_; }

 protected:
  std::uint64_t bytes_sent_ = 0;
};

// The destination of `url`, or null with `error` said.
std::unique_ptr<Destination> make_destination(const std::string& url, const HttpOptions& http,
                                              std::string& error);

}  // namespace logcat
