// Frame encoding and the resynchronising scanner.
#include "format/frame.hpp"

#define XXH_INLINE_ALL  // Debian's libxxhash-dev header, compiled in: no link dependency
#include <xxhash.h>

#include <cstring>

#include "format/archive_format.hpp"

namespace blackbox::archive {
namespace {

struct Header {
  std::uint32_t magic;
  std::uint16_t type;
  std::uint16_t flags;
  std::uint32_t length;
  std::uint32_t header_check;
  std::uint64_t payload_check;
};
static_assert(sizeof(Header) == kFrameHeaderBytes);

std::uint32_t header_check(const Header& h) {
  return static_cast<std::uint32_t>(XXH3_64bits(&h, 12));
}

}  // namespace

bool append_frame(std::vector<std::byte>& out, std::uint16_t type, std::uint16_t flags,
                  std::span<const std::byte> payload) {
  if (payload.size() > kMaxFramePayload) return false;
  Header h{kFrameMagic, type,
           flags,       static_cast<std::uint32_t>(payload.size()),
           0,           XXH3_64bits(payload.data(), payload.size())};
  h.header_check = header_check(h);
  const std::size_t at = out.size();
  out.resize(at + sizeof h + payload.size());
  std::memcpy(out.data() + at, &h, sizeof h);
  if (!payload.empty()) std::memcpy(out.data() + at + sizeof h, payload.data(), payload.size());
  return true;
}

std::optional<FrameHeader> read_frame_header(std::span<const std::byte> bytes) noexcept {
  if (bytes.size() < kFrameHeaderBytes) return std::nullopt;
  Header h;
  std::memcpy(&h, bytes.data(), sizeof h);
  if (h.magic != kFrameMagic || h.length > kMaxFramePayload || h.header_check != header_check(h)) {
    return std::nullopt;
  }
  return FrameHeader{h.type, h.flags, h.length, h.payload_check};
}

bool payload_intact(const FrameHeader& header, std::span<const std::byte> payload) noexcept {
  return payload.size() == header.length &&
         XXH3_64bits(payload.data(), payload.size()) == header.payload_check;
}

bool FrameScanner::header_ok(std::uint64_t at) const noexcept {
  if (data_.size() - at < kFrameHeaderBytes) return false;
  Header h;
  std::memcpy(&h, data_.data() + at, sizeof h);
  return h.magic == kFrameMagic && h.length <= kMaxFramePayload &&
         h.header_check == header_check(h);
}

std::uint64_t FrameScanner::resync(std::uint64_t from) const noexcept {
  for (std::uint64_t at = from; at + kFrameHeaderBytes <= data_.size(); ++at) {
    std::uint32_t magic;
    std::memcpy(&magic, data_.data() + at, sizeof magic);
    if (magic == kFrameMagic && header_ok(at)) return at;
  }
  return data_.size();
}

void FrameScanner::add_damage(std::uint64_t offset, std::uint64_t length, std::string reason) {
  if (length == 0) return;
  if (!damage_.empty() && damage_.back().offset + damage_.back().length == offset &&
      damage_.back().reason == reason) {
    damage_.back().length += length;  // one entry per contiguous range of one cause
    return;
  }
  damage_.push_back({offset, length, std::move(reason)});
}

std::optional<FrameView> FrameScanner::next() {
  while (pos_ < data_.size()) {
    const std::uint64_t at = pos_;
    const std::uint64_t left = data_.size() - at;
    if (!header_ok(at)) {
      // Not a frame header here: skip to the next one that is (or to the end).
      const std::uint64_t found = resync(at + 1);
      add_damage(at, found - at,
                 left < kFrameHeaderBytes ? "truncated frame header" : "no valid frame header");
      pos_ = found;
      continue;
    }
    Header h;
    std::memcpy(&h, data_.data() + at, sizeof h);
    if (left - kFrameHeaderBytes < h.length) {
      // Cut short (a torn append). Anything intact further on is found by resyncing.
      const std::uint64_t found = resync(at + 1);
      add_damage(at, found - at,
                 "truncated frame: " + std::to_string(left - kFrameHeaderBytes) + " of " +
                     std::to_string(h.length) + " payload bytes");
      pos_ = found;
      continue;
    }
    const std::span<const std::byte> payload = data_.subspan(at + kFrameHeaderBytes, h.length);
    if (XXH3_64bits(payload.data(), payload.size()) != h.payload_check) {
      // The header is intact (its own checksum), so its length can be trusted to skip.
      add_damage(at, kFrameHeaderBytes + h.length, "payload checksum mismatch");
      pos_ = at + kFrameHeaderBytes + h.length;
      continue;
    }
    pos_ = at + kFrameHeaderBytes + h.length;
    return FrameView{at, h.type, h.flags, payload};
  }
  return std::nullopt;
}

std::uint64_t chunk_index_check(const void* index_v1, const void* tids,
                                std::size_t tid_bytes) noexcept {
  return XXH3_64bits_withSeed(tids, tid_bytes, XXH3_64bits(index_v1, kChunkIndexV1Bytes));
}

}  // namespace blackbox::archive
