// The wire form of one record and of its arguments, shared by the inline writer (call site)
// and the reader. Part of the ring file format: docs/format.md, "Records". Never change a
// value here without bumping the format version.
#pragma once

#include <cstdint>

namespace blackbox::detail {

// How an argument is stored. The numeric values are written into site definitions.
enum class ArgType : std::uint8_t {
  i8 = 1,
  i16 = 2,
  i32 = 3,
  i64 = 4,
  u8 = 5,
  u16 = 6,
  u32 = 7,
  u64 = 8,
  f32 = 9,
  f64 = 10,
  boolean = 11,    // 1 byte, 0 or 1
  character = 12,  // 1 byte
  pointer = 13,    // 8 bytes, formatted like fmt::ptr
  string = 14,     // u32 length (bit 31: truncated) + bytes
  formatted = 15,  // as string, but already formatted (with its spec) at the call site
};
inline constexpr std::uint8_t kMaxArgType = 15;

// Bytes an argument of a fixed-size type occupies; 0 for the string kinds.
constexpr std::uint32_t fixed_size(ArgType type) noexcept {
  switch (type) {
    case ArgType::i8:
    case ArgType::u8:
    case ArgType::boolean:
    case ArgType::character:
      return 1;
    case ArgType::i16:
    case ArgType::u16:
      return 2;
    case ArgType::i32:
    case ArgType::u32:
    case ArgType::f32:
      return 4;
    case ArgType::i64:
    case ArgType::u64:
    case ArgType::f64:
    case ArgType::pointer:
      return 8;
    case ArgType::string:
    case ArgType::formatted:
      return 0;
  }
  return 0;
}

//  Record layout (little-endian, 8-byte aligned, never straddles a block):
//
//   0        4        8                16            16 or 40
//   +--------+--------+----------------+-------------+------------------------+-----+
//   | size   | site   | time (ticks)   | [trace ctx] | arguments, packed      | pad |
//   +--------+--------+----------------+-------------+------------------------+-----+
//
//   size: whole record in bytes, a multiple of 8; 0 marks "rest of this block is padding".
//   site: site id (1-based index into the site table, in 8-byte units); bit 31 set means a
//         24-byte trace context (16-byte trace id, 8-byte span id) follows the header.
//   time: raw clock ticks; the ring header's calibration converts them to wall-clock ns.
struct RecordHeader {
  std::uint32_t size;
  std::uint32_t site;
  std::uint64_t time;
};
static_assert(sizeof(RecordHeader) == 16);

inline constexpr std::uint32_t kRecordAlign = 8;
inline constexpr std::uint32_t kSiteHasTrace = 0x8000'0000u;
inline constexpr std::uint32_t kSiteIdMask = 0x7fff'ffffu;
inline constexpr std::uint32_t kTraceBytes = 24;
inline constexpr std::uint32_t kStringTruncated = 0x8000'0000u;
inline constexpr std::uint32_t kStringLengthMask = 0x7fff'ffffu;

constexpr std::uint64_t align_record(std::uint64_t n) noexcept {
  return (n + kRecordAlign - 1) & ~std::uint64_t{kRecordAlign - 1};
}

}  // namespace blackbox::detail
