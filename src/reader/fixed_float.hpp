// Short decimals as "{:.Nf}" and "{}" print them, without fmt 9's paths for them: its exact
// path for a precision (big-number arithmetic, about 700 instructions a value, the dearest
// part of decoding a record whose site prints "{:.3f}") and Dragonbox (about 350).
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <type_traits>

namespace blackbox::reader {

// Room the writers below need: a sign, the point and max(p + 1, digits) <= 18 digits (the
// integers they write are below 2^51, p at most 17).
inline constexpr std::size_t kFixedRoom = 32;

namespace short_decimal {

inline constexpr double kPow10[] = {1e0, 1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,
                                    1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17};

// "00".."99": two decimal digits per lookup.
inline constexpr std::array<char, 200> kPairs = [] {
  std::array<char, 200> t{};
  for (std::size_t i = 0; i < 100; ++i) {
    t[2 * i] = static_cast<char>('0' + i / 10);
    t[2 * i + 1] = static_cast<char>('0' + i % 10);
  }
  return t;
}();

// Writes the integer n < 2^51 as a decimal with p <= 17 decimals ("-" first if negative)
// into `d` (kFixedRoom bytes); returns the end. Built from the right, two digits at a time,
// the point after p of them, zeros in front if n has fewer than p + 1 digits (0.005); then
// one fixed-size copy: no call to memcpy for a dozen bytes, no division per digit.
inline char* put_decimal(std::uint64_t n, std::size_t p, bool negative, char* d) {
  char room[2 * kFixedRoom];
  char* const end = room + kFixedRoom;
  char* q = end;
  auto two = [&q](std::uint64_t v) {  // v < 100
    q -= 2;
    std::memcpy(q, &kPairs[2 * v], 2);
  };
  if (p != 0) {
    std::size_t k = p;
    for (; k >= 2; k -= 2, n /= 100) two(n % 100);
    if (k != 0) {
      *--q = static_cast<char>('0' + n % 10);
      n /= 10;
    }
    *--q = '.';
  }
  for (; n >= 100; n /= 100) two(n % 100);
  if (n >= 10) {
    two(n);
  } else {
    *--q = static_cast<char>('0' + n);
  }
  if (negative) *--q = '-';
  // At most 1 + 18 + 1 characters, so q + kFixedRoom stays inside the room.
  std::memcpy(d, q, kFixedRoom);
  return d + (end - q);
}

// Writes any integer in decimal into `d` (kFixedRoom bytes: at most 20 digits and a sign
// are written, and put_decimal's fixed copy); returns the end.
template <typename Int>
inline char* put_integer(Int value, char* d) {
  if constexpr (std::is_signed_v<Int>) {
    const bool negative = value < 0;
    const auto bits = static_cast<std::uint64_t>(static_cast<std::int64_t>(value));
    return put_decimal(negative ? 0 - bits : bits, 0, negative, d);
  } else {
    return put_decimal(static_cast<std::uint64_t>(value), 0, false, d);
  }
}

// round(x) for 0 <= x < 2^51, by truncation (std::floor is a call without SSE4.1).
inline double round_small(double x) {
  return static_cast<double>(static_cast<std::int64_t>(x + 0.5));
}

// The exact product a * b as hi + lo (hi = a * b rounded, lo its rounding error), for
// |a * b| far from overflow and underflow: with FMA in one step, else by Dekker's product
// (Veltkamp's split: each factor as two 26-bit halves, whose products are exact). Without
// FMA in the target nothing can contract the expressions below.
inline void exact_product(double a, double b, double& hi, double& lo) {
  hi = a * b;
#if defined(__FMA__)
  lo = std::fma(a, b, -hi);
#else
  auto split = [](double x, double& high, double& low) {
    const double c = 134217729.0 * x;  // 2^27 + 1
    high = c - (c - x);
    low = x - high;
  };
  double ah, al, bh, bl;
  split(a, ah, al);
  split(b, bh, bl);
  lo = ((ah * bh - hi) + ah * bl + al * bh) + al * bl;
#endif
}

}  // namespace short_decimal

// Writes `value` as fmt's "{:.{precision}f}" does into `out` (kFixedRoom bytes) and returns
// the length, when |value| * 10^p is below 2^50 (milliseconds, ratios, prices: what
// programs log); otherwise returns 0 and the caller asks fmt (its exact path for a precision
// costs about 700 instructions a value).
//
// Why it is exact: fmt prints the value's exact binary value V correctly rounded to p
// decimals, i.e. the integer nearest to P = V * 10^p, over 10^p. 10^p is exact (5^17 <
// 2^53), and P = hi + lo exactly (exact_product). n = round(hi) is that integer unless the
// exact residual R = P - n = (hi - n) + lo lies below -1/2: hi - n is exact (both below
// 2^50, |hi - n| <= 1/2), and its sum with lo is rounded once, which keeps the order against
// -1/2 (a representable number) except where the sum rounds to -1/2 itself: then the value
// is at or near a tie, whose rule is fmt's business. NaN and infinities fail the bound.
template <typename T>
std::size_t write_short_fixed(T value, int precision, char* out) {
  static_assert(std::is_floating_point_v<T>);
  if (precision < 0 || precision > 17) return 0;
  const double scale = short_decimal::kPow10[precision];
  const double magnitude = std::fabs(static_cast<double>(value));
  if (!(magnitude * scale < 0x1p50)) return 0;
  double hi, lo;
  short_decimal::exact_product(magnitude, scale, hi, lo);
  double n = short_decimal::round_small(hi);
  // round_small rounds halves up, so hi - n is in [-1/2, 1/2) and, lo being at most half an
  // ulp of hi, the residual is below 1/2: only the integer below can be nearer.
  const double residual = (hi - n) + lo;
  if (residual < -0.5) {
    n -= 1;
  } else if (residual == -0.5) {
    return 0;  // a tie, or too near one to tell: fmt's rule
  }
  // -0.0 keeps its sign, as in fmt (and so does a negative value that rounds to zero).
  return static_cast<std::size_t>(short_decimal::put_decimal(static_cast<std::uint64_t>(n),
                                                             static_cast<std::size_t>(precision),
                                                             std::signbit(value), out) -
                                  out);
}

// Writes `value` as fmt's "{}" does (the shortest decimal that reads back as the value) into
// `out` (kFixedRoom bytes) and returns the length, when the value is a short decimal between
// 1e-4 and 1e15 (or zero); otherwise returns 0 and the caller asks fmt (Dragonbox, about 350
// instructions a value here).
//
// Why it is exact: for p = 0, 1, ... the decimal S = round(|value| * 10^p) / 10^p reads back
// as the value when the IEEE division (correctly rounded) equals it. While |value| * 10^p is
// below 2^51, the step 10^-p of the p-decimal grid is over twice the ulp, so at most one
// point of the grid reads back (all that do lie within half an ulp of the value), and it is
// the nearest, which the rounded product finds (its error is far below half a step). So the
// first p at which S reads back gives the only decimal with that few decimals, hence the
// fewest digits, that does: fmt's shortest. Between 1e-4 and 1e15 fmt writes it without an
// exponent, as here.
inline std::size_t write_shortest(double value, char* out) {
  const double magnitude = std::fabs(value);
  if (magnitude == 0) {
    char* d = out;
    if (std::signbit(value)) *d++ = '-';
    *d++ = '0';
    return static_cast<std::size_t>(d - out);
  }
  if (!(magnitude >= 1e-4 && magnitude < 1e15)) return 0;  // NaN too
  for (std::size_t p = 0; p < std::size(short_decimal::kPow10); ++p) {
    const double scale = short_decimal::kPow10[p];
    const double scaled = magnitude * scale;
    if (scaled >= 0x1p51) return 0;  // the grid is too fine: fmt decides
    const double n = short_decimal::round_small(scaled);
    if (n / scale != magnitude) continue;
    return static_cast<std::size_t>(
        short_decimal::put_decimal(static_cast<std::uint64_t>(n), p, value < 0, out) - out);
  }
  return 0;
}

}  // namespace blackbox::reader
