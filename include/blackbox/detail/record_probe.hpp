// The USDT probe blackbox:record (detail/probes.hpp), fired by every BBX_* call site of the
// program (not the library's own: see BBX_RECORD_PROBE_ENABLED) while a tracer is attached,
// whether the site's level is enabled or not (as libmtev's do): so an operator can watch a
// disabled debug line of a live process without changing its level.
//
//   arg0  the site's id in the ring file's site table (0: not defined yet, as a site whose
//         level was never enabled)      arg1  level (0 trace .. 5 fatal)
//   arg2  tag (char*)                   arg3  template (char*)
//   arg4  the arguments in their ring encoding (docs/format.md, "Records": each argument by
//         its type, strings as a u32 length then the bytes)    arg5  their size in bytes
// Six, all 64 bits wide: bpftrace (0.17) reads no more than arg0 .. arg5, and compares
// arguments with its 64-bit literals.
//
// Only the attached path pays for the arguments: they are encoded into a buffer of the
// thread's own (strings cut to share its 4 KiB).
#pragma once

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include "blackbox/detail/encode.hpp"
#include "blackbox/detail/probes.hpp"
#include "blackbox/detail/site.hpp"

namespace blackbox::detail {

inline constexpr std::uint32_t kProbeArgsBytes = 4096;
// The encoded arguments of the probe being fired, per thread.
inline thread_local std::byte probe_args[kProbeArgsBytes];

// How an argument reaches the probe's (out of line) code: small trivially copyable ones by
// value, so that no local of the call site has its address taken (which would keep it in
// memory on the fast path too), others by reference.
template <typename T>
using ProbePass =
    std::conditional_t<!std::is_array_v<T> && std::is_trivially_copyable_v<T> && sizeof(T) <= 16, T,
                       const T&>;

template <typename... Args, std::size_t... I>
[[gnu::noinline, gnu::cold]] void fire_record_probe_out(const Site& site,
                                                        const char* message_template,
                                                        std::index_sequence<I...>,
                                                        Args... args) noexcept {
  auto wires = std::make_tuple(to_wire<I>(message_template, args)...);
  // Every argument's fixed part is at most 16 bytes; strings share the rest.
  [[maybe_unused]] constexpr std::uint32_t kStringRoom =
      (kProbeArgsBytes - 16 * sizeof...(Args)) / (sizeof...(Args) == 0 ? 1 : sizeof...(Args));
  (cut_string(std::get<I>(wires), kStringRoom), ...);
  std::byte* out = probe_args;
  std::apply([&](const auto&... w) { ((out = put(out, w)), ...); }, wires);
  const StaticSite& s = *site.info;
  // Relaxed: an id for the tracer to show; a stale 0 only means "not defined yet".
  const std::uint64_t id = site.header_bits.load(std::memory_order_relaxed) >> 32;
  const std::uint64_t level = static_cast<std::uint64_t>(s.level);
  const std::byte* const encoded = probe_args;
  const std::uint64_t size = static_cast<std::uint64_t>(out - probe_args);
  BBX_RECORD_PROBE(id, level, s.tag, message_template, encoded, size);
}

template <typename... Args>
inline void fire_record_probe(const Site& site, const char* message_template,
                              const Args&... args) noexcept {
  fire_record_probe_out<ProbePass<Args>...>(site, message_template,
                                            std::index_sequence_for<Args...>{}, args...);
}

// An enabled call: its record, then the probe if a tracer listens (one compare otherwise).
template <typename... Args>
inline void log_at(std::uint64_t time, std::uint64_t site_bits, const Site& site,
                   TemplateString<std::type_identity_t<Args>...> checked,
                   const Args&... args) noexcept {
  write_record(time, site_bits, checked.c_str(), std::index_sequence_for<Args...>{}, args...);
  if (BBX_RECORD_PROBE_ENABLED()) fire_record_probe(site, checked.c_str(), args...);
}
template <typename... Args>
inline void log_printf_at(std::uint64_t time, std::uint64_t site_bits, const Site& site,
                          PrintfString<std::type_identity_t<Args>...> checked,
                          const Args&... args) noexcept {
  write_record(time, site_bits, checked.c_str(), std::index_sequence_for<Args...>{}, args...);
  if (BBX_RECORD_PROBE_ENABLED()) fire_record_probe(site, checked.c_str(), args...);
}

// A disabled call, while a tracer listens: the probe alone.
template <typename... Args>
inline void probe_disabled(const Site& site, TemplateString<std::type_identity_t<Args>...> checked,
                           const Args&... args) noexcept {
  fire_record_probe(site, checked.c_str(), args...);
}
template <typename... Args>
inline void probe_disabled_printf(const Site& site,
                                  PrintfString<std::type_identity_t<Args>...> checked,
                                  const Args&... args) noexcept {
  fire_record_probe(site, checked.c_str(), args...);
}

}  // namespace blackbox::detail
