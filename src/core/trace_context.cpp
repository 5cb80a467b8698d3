// W3C trace context: the traceparent codec and the thread's current context, which lives in
// the thread's producer state so the hot path finds it next to everything else it reads.
#include <cstring>

#include "blackbox/detail/producer.hpp"
#include "blackbox/detail/record.hpp"
#include "blackbox/trace.hpp"

namespace blackbox {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase is invalid in traceparent
}

template <std::size_t N>
bool parse_hex(std::string_view text, std::array<std::uint8_t, N>& out) {
  if (text.size() != 2 * N) return false;
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& bytes) {
  for (auto b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

template <std::size_t N>
std::string to_hex(const std::array<std::uint8_t, N>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * N, '0');
  for (std::size_t i = 0; i < N; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return out;
}

std::optional<TraceContext> fail(std::string* error, const std::string& why) {
  if (error != nullptr) *error = "invalid traceparent: " + why;
  return std::nullopt;
}

}  // namespace

bool TraceContext::valid() const noexcept { return !all_zero(trace_id) && !all_zero(span_id); }

std::optional<TraceContext> TraceContext::parse(std::string_view text, std::string* error) {
  // version "-" trace-id "-" parent-id "-" trace-flags  (2-32-16-2 lowercase hex digits)
  constexpr std::size_t kLength = 55;
  if (text.size() < kLength) {
    return fail(error, "expected 55 characters (\"00-<32 hex>-<16 hex>-<2 hex>\"), got " +
                           std::to_string(text.size()));
  }
  std::array<std::uint8_t, 1> version{};
  if (!parse_hex(text.substr(0, 2), version)) {
    return fail(error, "version \"" + std::string(text.substr(0, 2)) +
                           "\" is not two lowercase hex digits");
  }
  if (version[0] == 0xff) return fail(error, "version ff is forbidden");
  if (text[2] != '-' || text[35] != '-' || text[52] != '-') {
    return fail(error, "fields must be separated by '-' at offsets 2, 35 and 52");
  }
  if (version[0] == 0x00 && text.size() != kLength) {
    return fail(error,
                "version 00 must be exactly 55 characters, got " + std::to_string(text.size()));
  }
  if (version[0] != 0x00 && text.size() > kLength && text[kLength] != '-') {
    return fail(error, "a future version's extra fields must start with '-'");
  }
  TraceContext ctx;
  if (!parse_hex(text.substr(3, 32), ctx.trace_id)) {
    return fail(error, "trace-id is not 32 lowercase hex digits");
  }
  if (!parse_hex(text.substr(36, 16), ctx.span_id)) {
    return fail(error, "parent-id is not 16 lowercase hex digits");
  }
  std::array<std::uint8_t, 1> flags{};
  if (!parse_hex(text.substr(53, 2), flags)) {
    return fail(error, "trace-flags is not two lowercase hex digits");
  }
  if (all_zero(ctx.trace_id)) return fail(error, "trace-id is all zeros");
  if (all_zero(ctx.span_id)) return fail(error, "parent-id is all zeros");
  ctx.flags = flags[0];
  return ctx;
}

std::string TraceContext::format() const {
  std::array<std::uint8_t, 1> flag_bytes{flags};
  return "00-" + to_hex(trace_id) + "-" + to_hex(span_id) + "-" + to_hex(flag_bytes);
}

std::string TraceContext::trace_id_hex() const { return to_hex(trace_id); }
std::string TraceContext::span_id_hex() const { return to_hex(span_id); }

namespace {

TraceContext load_current(const detail::Producer& p) {
  TraceContext ctx;
  std::memcpy(ctx.trace_id.data(), p.trace, 16);
  std::memcpy(ctx.span_id.data(), p.trace + 16, 8);
  ctx.flags = p.trace_flags;
  return ctx;
}

void store_current(detail::Producer& p, const TraceContext& ctx, bool active) {
  std::memcpy(p.trace, ctx.trace_id.data(), 16);
  std::memcpy(p.trace + 16, ctx.span_id.data(), 8);
  p.trace_flags = ctx.flags;
  p.trace_bytes = active ? detail::kTraceBytes : 0;
  p.trace_header_bits = active ? std::uint64_t{detail::kSiteHasTrace} << 32 : 0;
}

}  // namespace

TraceScope::TraceScope(const TraceContext& context) noexcept
    : saved_(load_current(detail::tls_producer)),
      saved_active_(detail::tls_producer.trace_bytes != 0) {
  store_current(detail::tls_producer, context, true);
}

TraceScope::~TraceScope() { store_current(detail::tls_producer, saved_, saved_active_); }

std::optional<TraceContext> current_trace() noexcept {
  const detail::Producer& p = detail::tls_producer;
  if (p.trace_bytes == 0) return std::nullopt;
  return load_current(p);
}

}  // namespace blackbox
