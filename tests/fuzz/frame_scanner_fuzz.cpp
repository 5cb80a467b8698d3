// libFuzzer target: the archive frame scanner against arbitrary bytes. Every returned frame
// must lie inside the input, frames and damage ranges must not overlap and must be in
// order, and together they must cover the whole input.
#include <cstddef>
#include <cstdint>
#include <span>

#include "format/frame.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  blackbox::archive::FrameScanner scanner(bytes);
  std::uint64_t covered = 0;
  std::uint64_t last_end = 0;
  while (auto frame = scanner.next()) {
    const std::uint64_t end =
        frame->offset + blackbox::archive::kFrameHeaderBytes + frame->payload.size();
    if (frame->offset < last_end || end > size) __builtin_trap();
    if (frame->payload.data() != bytes.data() + frame->offset + 24) __builtin_trap();
    covered += end - frame->offset;
    last_end = end;
  }
  std::uint64_t damage_end = 0;
  for (const auto& d : scanner.damage()) {
    if (d.offset < damage_end || d.length == 0 || d.offset + d.length > size) __builtin_trap();
    damage_end = d.offset + d.length;
    covered += d.length;
  }
  if (covered != size) __builtin_trap();  // every byte is a frame or reported damage
  return 0;
}
