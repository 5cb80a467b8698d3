// Copying the few bytes a piece of a line usually is (a tag, a name, a number's text)
// without a call to memcpy, which costs more than the copy at these sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace blackbox::reader {

// Copies n bytes from src to dst (not overlapping). Up to 16 bytes: at most two overlapping
// loads and stores, reading and writing only the n bytes.
inline void copy_small(char* dst, const char* src, std::size_t n) {
  if (n >= 8 && n <= 16) {
    std::uint64_t head, tail;
    std::memcpy(&head, src, 8);
    std::memcpy(&tail, src + n - 8, 8);
    std::memcpy(dst, &head, 8);
    std::memcpy(dst + n - 8, &tail, 8);
  } else if (n >= 4 && n < 8) {
    std::uint32_t head, tail;
    std::memcpy(&head, src, 4);
    std::memcpy(&tail, src + n - 4, 4);
    std::memcpy(dst, &head, 4);
    std::memcpy(dst + n - 4, &tail, 4);
  } else if (n < 4) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
  } else {
    std::memcpy(dst, src, n);
  }
}

}  // namespace blackbox::reader
