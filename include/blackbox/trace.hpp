// Trace context: the W3C trace id and span id that records logged inside a TraceScope carry,
// and the `traceparent` header codec used at process boundaries.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace blackbox {

// A W3C trace context (https://www.w3.org/TR/trace-context/). All-zero ids are invalid.
struct TraceContext {
  std::array<std::uint8_t, 16> trace_id{};  // big-endian bytes, as in the hex form
  std::array<std::uint8_t, 8> span_id{};    // the "parent-id" field of a traceparent
  std::uint8_t flags = 0;                   // bit 0: sampled

  [[nodiscard]] bool valid() const noexcept;

  // Parses a `traceparent` header value ("00-<32 hex>-<16 hex>-<2 hex>"), following the
  // specification's rules: lowercase hex only, no all-zero ids, version ff rejected, and a
  // future version is accepted if its first four fields parse. On failure returns nullopt
  // and, if `error` is given, a one-line reason naming the offending field.
  // Thread-safe; allocates only for the error message.
  [[nodiscard]] static std::optional<TraceContext> parse(std::string_view traceparent,
                                                         std::string* error = nullptr);

  // "00-<trace id>-<span id>-<flags>", lowercase. Thread-safe.
  [[nodiscard]] std::string format() const;
  [[nodiscard]] std::string trace_id_hex() const;
  [[nodiscard]] std::string span_id_hex() const;

  friend bool operator==(const TraceContext&, const TraceContext&) = default;
};

// Sets the calling thread's trace context for its lifetime; records logged by this thread
// inside the scope carry the trace id and span id. Scopes nest: the destructor restores the
// context that was active before. Not copyable or movable (it must be destroyed on the thread
// that created it). Cheap: copies 25 bytes in, 25 bytes out; never allocates or blocks.
class TraceScope {
 public:
  explicit TraceScope(const TraceContext& context) noexcept;
  ~TraceScope();
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;

 private:
  TraceContext saved_;
  bool saved_active_;
};

// The calling thread's current trace context, if a TraceScope is active.
[[nodiscard]] std::optional<TraceContext> current_trace() noexcept;

}  // namespace blackbox
