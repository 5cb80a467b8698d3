// "{:.Nf}" without fmt 9's exact path for a precision (big-number arithmetic, about 700
// instructions a value: the dearest part of decoding a record whose site prints "{:.3f}").
#pragma once

#include <fmt/format.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

namespace blackbox::reader {

// Room write_short_fixed() needs: a sign, 17 digits, the point and 17 leading zeros.
inline constexpr std::size_t kFixedRoom = 48;

// Writes `value` as fmt's "{:.{precision}f}" does into `out` (kFixedRoom bytes) and returns
// the length, when the value is a short decimal (at most `precision` decimals, as the values
// programs log mostly are: 7.535 ms); otherwise returns 0 and the caller asks fmt.
//
// Why it is exact: n = round(|value| * 10^p) gives the decimal S = n / 10^p. If S reads back
// as the value (the IEEE division, correctly rounded, equals it), S is within one ulp of the
// value's exact binary value V. The bound |value| < 2^(digits-2) / 10^p keeps that ulp (at
// most |value| * 2^(1-digits)) at or below half of 10^-p, so V is less than half a step of
// the p-decimal grid away from S, a point of that grid: S is V correctly rounded to p
// decimals, which is what fmt prints. The product's rounding only picks the candidate; the
// check decides. NaN and infinities fail the bound.
template <typename T>
std::size_t write_short_fixed(T value, int precision, char* out) {
  static_assert(std::is_floating_point_v<T>);
  static constexpr double kPow10[] = {1e0, 1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,
                                      1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17};
  if (precision < 0 || precision > 17) return 0;
  const double scale = kPow10[precision];  // exact: 5^17 < 2^53
  const double magnitude = std::fabs(static_cast<double>(value));
  if (!(magnitude < std::ldexp(1.0, std::numeric_limits<T>::digits - 2) / scale)) return 0;
  const double scaled = std::floor(magnitude * scale + 0.5);  // below 2^51: an exact integer
  if (static_cast<T>(scaled / scale) != static_cast<T>(magnitude)) return 0;
  const fmt::format_int digits(static_cast<std::uint64_t>(scaled));
  const auto p = static_cast<std::size_t>(precision);
  char* d = out;
  if (std::signbit(value)) *d++ = '-';  // -0.0 too, as fmt
  // digits = integer part, then p decimals; fewer than p + 1 digits: zeros in front.
  const std::size_t zeros = digits.size() <= p ? p + 1 - digits.size() : 0;
  std::memset(d, '0', zeros);
  std::memcpy(d + zeros, digits.data(), digits.size());
  const std::size_t total = zeros + digits.size();
  if (p != 0) {
    std::memmove(d + total - p + 1, d + total - p, p);
    d[total - p] = '.';
    d += 1;
  }
  return static_cast<std::size_t>(d + total - out);
}

}  // namespace blackbox::reader
