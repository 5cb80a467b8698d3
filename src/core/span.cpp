// Spans (blackbox/span.hpp): ids, the thread's context switch, the start and end records.
#include "blackbox/span.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "blackbox/detail/probes.hpp"
#include "blackbox/detail/producer.hpp"
#include "blackbox/detail/record.hpp"
#include "core/logger.hpp"
#include "format/ring_clock.hpp"

namespace blackbox {
namespace detail {
namespace {

// Span and trace ids: a per-thread counter stepped by the golden ratio from a seed (the
// clock and the thread id), through the murmur3 finaliser. Unique per thread and spread
// over the id space, which is what ids need; they are not secret.
thread_local constinit std::uint64_t t_next_id BBX_TLS_MODEL = 0;

std::uint64_t next_random() noexcept {
  std::uint64_t x = t_next_id;
  if (x == 0) [[unlikely]] {
    x = now_ticks() ^ (static_cast<std::uint64_t>(syscall(SYS_gettid)) << 32);
  }
  x += 0x9E3779B97F4A7C15ull;
  t_next_id = x;
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  return x != 0 ? x : 1;
}

std::uint64_t load_be(const std::uint8_t* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return __builtin_bswap64(v);
}

void store_be(std::uint64_t v, std::uint8_t* p) noexcept {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, sizeof v);
}

// Nanoseconds per tick, from the ring's calibration; read again every 4096 spans.
thread_local constinit double t_ns_per_tick BBX_TLS_MODEL = 0;
thread_local constinit std::uint32_t t_spans_since_scale BBX_TLS_MODEL = 0;

double ns_per_tick() noexcept {
  if (t_ns_per_tick == 0 || ++t_spans_since_scale == 4096) {
    t_spans_since_scale = 0;
    double scale = 1.0;
    if (ring::RingMemory* ring = core::current_ring(); ring != nullptr) {
      const ring::ClockSnapshot c = ring::read_clock(ring->header().clock);
      if (c.valid && c.ref_ticks > c.base_ticks) {
        scale = static_cast<double>(c.ref_ns - c.base_ns) /
                static_cast<double>(c.ref_ticks - c.base_ticks);
      }
    }
    t_ns_per_tick = scale;
  }
  return t_ns_per_tick;
}

}  // namespace

void open_span(SpanState& s, std::string_view name) noexcept {
  Producer& p = tls_producer;
  std::memcpy(s.saved, p.trace, sizeof s.saved);
  s.saved_flags = p.trace_flags;
  s.saved_active = p.trace_bytes != 0;
  s.name = name;
  if (s.saved_active) {
    s.parent = load_be(p.trace + 16);  // same trace, a child of the current span
  } else {
    s.parent = 0;  // a new trace, sampled
    store_be(next_random(), p.trace);
    store_be(next_random(), p.trace + 8);
    p.trace_flags = 1;
  }
  store_be(next_random(), p.trace + 16);
  p.trace_bytes = kTraceBytes;
  p.trace_header_bits = std::uint64_t{kSiteHasTrace} << 32;
  s.start_ticks = now_ticks();
  if (BBX_PROBE_ENABLED(span_start)) {
    // USDT blackbox:span_start (docs/tracing.md): name (pointer, length), span id, parent
    // span id (0: a root), trace id (high and low 64 bits).
    const char* const name_data = name.data();
    const std::uint64_t name_size = name.size(), span = load_be(p.trace + 16);
    const std::uint64_t parent = s.parent, trace_hi = load_be(p.trace),
                        trace_lo = load_be(p.trace + 8);
    BBX_PROBE(span_start, name_data, name_size, span, parent, trace_hi, trace_lo);
  }
}

void close_span(const SpanState& s) noexcept {
  const std::uint64_t end = now_ticks();
  const auto ns =
      static_cast<std::uint64_t>(static_cast<double>(end - s.start_ticks) * ns_per_tick());
  // The span's name is in its start record (same span id); the end record needs only the
  // duration and the parent.
  BBX_INTERNAL_LOG(end, "span", Level::info,
                   "span ended after {duration_ns} ns (parent {parent:016x})", ns, s.parent);
  Producer& p = tls_producer;
  if (BBX_PROBE_ENABLED(span_end)) {
    // USDT blackbox:span_end (docs/tracing.md): name (pointer, length: the name as given,
    // a literal for BBX_SPAN), duration in ns, span id, parent span id.
    const char* const name_data = s.name.data();
    const std::uint64_t name_size = s.name.size(), span = load_be(p.trace + 16);
    const std::uint64_t parent = s.parent;
    BBX_PROBE(span_end, name_data, name_size, ns, span, parent);
  }
  std::memcpy(p.trace, s.saved, sizeof s.saved);
  p.trace_flags = s.saved_flags;
  p.trace_bytes = s.saved_active ? kTraceBytes : 0;
  p.trace_header_bits = s.saved_active ? std::uint64_t{kSiteHasTrace} << 32 : 0;
}

}  // namespace detail

Span::Span(std::string_view name) noexcept {
  detail::open_span(state_, name);
  BBX_INTERNAL_LOG(state_.start_ticks, "span", Level::info, "span {span} started", name);
}

}  // namespace blackbox
