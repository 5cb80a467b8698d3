#include "reader/crash_report.hpp"

#include <algorithm>
#include <cstring>

#include "format/ring_layout.hpp"

namespace blackbox::reader {

std::optional<CrashInfo> parse_crash_report(std::span<const std::byte> bytes) {
  ring::CrashReport r;
  if (bytes.size() < sizeof r) return std::nullopt;
  std::memcpy(&r, bytes.data(), sizeof r);
  if (std::memcmp(r.magic, ring::kCrashMagic, sizeof r.magic) != 0 ||
      r.fixed_bytes < ring::kCrashReportBaseBytes) {
    return std::nullopt;
  }
  CrashInfo c;
  c.signal = r.signal;
  c.code = r.code;
  c.fault_address = r.fault_address;
  c.tid = r.tid;
  c.thread_name.assign(r.thread_name, strnlen(r.thread_name, sizeof r.thread_name));
  c.time_ns = r.time_ns;
  if ((r.flags & ring::kCrashFlagTerminate) != 0) {
    c.exception.assign(r.exception, strnlen(r.exception, sizeof r.exception));
  }
  c.frames.assign(r.frames, r.frames + std::min(r.frame_count, ring::kCrashFrames));
  c.other_threads = r.other_threads;
  c.pc = r.context_pc;
  c.handler_start_ns = r.handler_start_ns;
  c.handler_end_ns = r.handler_end_ns;
  // The trace context: in reports that hold it (a first-version report's bytes there are
  // its first module entry).
  if (r.fixed_bytes >= sizeof r && (r.flags & ring::kCrashFlagTrace) != 0) {
    c.has_trace = true;
    std::memcpy(c.trace_id.data(), r.trace_id, sizeof r.trace_id);
    std::memcpy(c.span_id.data(), r.span_id, sizeof r.span_id);
  }
  // The modules follow the report (from fixed_bytes on, so that a longer report of a later
  // version still finds them); as many as the bytes hold.
  std::span<const std::byte> rest =
      bytes.subspan(std::min<std::size_t>(r.fixed_bytes, bytes.size()));
  const std::uint32_t count = std::min(r.module_count, ring::kCrashModules);
  for (std::uint32_t i = 0; i < count && rest.size() >= sizeof(ring::CrashModule); ++i) {
    ring::CrashModule m;
    std::memcpy(&m, rest.data(), sizeof m);
    rest = rest.subspan(sizeof m);
    LoadedModule& out = c.modules.emplace_back();
    out.start = m.start;
    out.end = m.end;
    out.load_bias = m.load_bias;
    static constexpr char kHex[] = "0123456789abcdef";
    const std::uint32_t id_bytes = std::min<std::uint32_t>(m.build_id_bytes, ring::kBuildIdBytes);
    for (std::uint32_t b = 0; b < id_bytes; ++b) {
      out.build_id += kHex[m.build_id[b] >> 4];
      out.build_id += kHex[m.build_id[b] & 15];
    }
    out.path.assign(m.path, strnlen(m.path, sizeof m.path));
  }
  return c;
}

}  // namespace blackbox::reader
