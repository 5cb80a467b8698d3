#include "reader/crash_report.hpp"

#include <algorithm>
#include <cstring>

#include "ring/layout.hpp"

namespace blackbox::reader {

std::optional<CrashInfo> parse_crash_report(std::span<const std::byte> bytes) {
  ring::CrashReport r;
  if (bytes.size() < sizeof r) return std::nullopt;
  std::memcpy(&r, bytes.data(), sizeof r);
  if (std::memcmp(r.magic, ring::kCrashMagic, sizeof r.magic) != 0 || r.fixed_bytes < sizeof r) {
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
  if (r.handler_end_ns > r.handler_start_ns && r.handler_start_ns > 0) {
    c.handler_ns = r.handler_end_ns - r.handler_start_ns;
  }
  return c;
}

}  // namespace blackbox::reader
