// Archive frames: the unit every archive file is made of (docs/format.md, "Archive frames").
// A frame is a checksummed header and a payload; a reader that meets damage resynchronises
// on the next intact header and reports the damaged byte range, so a torn or corrupted file
// loses only its damaged frames. This layer knows nothing of what payloads mean.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace blackbox::archive {

//  Frame layout (little-endian):
//
//   0        4      6      8        12             16                 24
//   +--------+------+------+--------+--------------+------------------+-----------------+
//   | magic  | type | flags| length | header check | payload check    | payload         |
//   +--------+------+------+--------+--------------+------------------+-----------------+
//
//   magic: "BXF1"; type: what the payload is (unknown types are skipped by readers);
//   flags: type-specific; length: payload bytes, at most kMaxFramePayload;
//   header check: low 32 bits of XXH3-64 of bytes 0-11; payload check: XXH3-64 of the payload.
inline constexpr std::uint32_t kFrameMagic = 0x31465842;  // "BXF1" in file byte order
inline constexpr std::size_t kFrameHeaderBytes = 24;
inline constexpr std::uint32_t kMaxFramePayload = 64u << 20;

// Appends one frame to `out`. Thread-compatible (no shared state). `payload` must not be
// longer than kMaxFramePayload; returns false (and appends nothing) if it is.
[[nodiscard]] bool append_frame(std::vector<std::byte>& out, std::uint16_t type,
                                std::uint16_t flags, std::span<const std::byte> payload);

// A byte range a reader could not use, and why.
struct Damage {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::string reason;
};

struct FrameView {
  std::uint64_t offset = 0;  // of the frame header in the scanned bytes
  std::uint16_t type = 0;
  std::uint16_t flags = 0;
  std::span<const std::byte> payload;  // points into the scanned bytes
};

// A frame's header on its own, for a reader that looks at headers before payloads.
struct FrameHeader {
  std::uint16_t type = 0;
  std::uint16_t flags = 0;
  std::uint32_t length = 0;  // of the payload, at most kMaxFramePayload
  std::uint64_t payload_check = 0;
};
// The header at the start of `bytes`, if it is one: magic and header check right.
[[nodiscard]] std::optional<FrameHeader> read_frame_header(
    std::span<const std::byte> bytes) noexcept;
// Whether `payload` is the one `header` describes (its length and checksum).
[[nodiscard]] bool payload_intact(const FrameHeader& header,
                                  std::span<const std::byte> payload) noexcept;

// Walks the frames of an archive image. Never reads outside `data`; never throws.
class FrameScanner {
 public:
  explicit FrameScanner(std::span<const std::byte> data) noexcept : data_(data) {}

  // The next intact frame (header and payload checksums verified), or nullopt at the end.
  // Damage met on the way is appended to damage(), one entry per contiguous range.
  [[nodiscard]] std::optional<FrameView> next();

  [[nodiscard]] const std::vector<Damage>& damage() const noexcept { return damage_; }

 private:
  // Offset of the next plausible intact frame at or after `from`, or data_.size().
  [[nodiscard]] std::uint64_t resync(std::uint64_t from) const noexcept;
  [[nodiscard]] bool header_ok(std::uint64_t at) const noexcept;
  void add_damage(std::uint64_t offset, std::uint64_t length, std::string reason);

  std::span<const std::byte> data_;
  std::uint64_t pos_ = 0;
  std::vector<Damage> damage_;
};

}  // namespace blackbox::archive
