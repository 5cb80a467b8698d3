// Writing and reading the fixed-width fields of a frame's payload (telemetry and metrics
// frames): host byte order (the file header records it), strings as a u16 length and bytes.
// The reading side checks the size left before every field: nothing in a payload is trusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "blackbox/log_histogram.hpp"

namespace blackbox::archive {

template <typename T>
void put(std::vector<std::byte>& out, T value) {
  const std::size_t at = out.size();
  out.resize(at + sizeof value);
  std::memcpy(out.data() + at, &value, sizeof value);
}

inline void put_text(std::vector<std::byte>& out, std::string_view text, std::size_t max) {
  text = text.substr(0, max);
  put(out, static_cast<std::uint16_t>(text.size()));
  const std::size_t at = out.size();
  out.resize(at + text.size());
  if (!text.empty()) std::memcpy(out.data() + at, text.data(), text.size());
}

// The bins that hold values: a count, then (bin, count) pairs.
inline void put_bins(std::vector<std::byte>& out, const LogHistogram& h) {
  std::uint32_t nonzero = 0;
  for (const std::uint64_t n : h.bins()) nonzero += n != 0;
  put(out, nonzero);
  for (std::uint32_t i = 0; i < log_bins::kCount; ++i) {
    if (const std::uint64_t n = h.bin(i); n != 0) {
      put(out, i);
      put(out, n);
    }
  }
}

struct PayloadIn {
  std::span<const std::byte> rest;
  template <typename T>
  bool take(T& value) {
    if (rest.size() < sizeof value) return false;
    std::memcpy(&value, rest.data(), sizeof value);
    rest = rest.subspan(sizeof value);
    return true;
  }
  bool take_text(std::string& text) {
    std::uint16_t n = 0;
    if (!take(n) || rest.size() < n) return false;
    text.assign(reinterpret_cast<const char*>(rest.data()), n);
    rest = rest.subspan(n);
    return true;
  }
  // put_bins()'s bins into `h` (set_bin: count follows).
  bool take_bins(LogHistogram& h) {
    std::uint32_t nonzero = 0;
    if (!take(nonzero) || nonzero > log_bins::kCount) return false;
    for (std::uint32_t i = 0; i < nonzero; ++i) {
      std::uint32_t bin = 0;
      std::uint64_t n = 0;
      if (!take(bin) || !take(n) || bin >= log_bins::kCount) return false;
      h.set_bin(bin, n);
    }
    return true;
  }
};

}  // namespace blackbox::archive
