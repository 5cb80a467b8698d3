// The reader's short way to "{:.Nf}" (reader/fixed_float.hpp) against fmt itself: when it
// answers, it must answer exactly what fmt prints, on values chosen to be hard (halves and
// near-halves of the last decimal, large values, tiny ones, negative zero) and random ones,
// and it must answer the usual ones, including values that are not short decimals.
#include "reader/fixed_float.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

using blackbox::reader::kFixedRoom;
using blackbox::reader::write_short_fixed;

// Checks one value at one precision; returns whether the short way answered.
template <typename T>
bool check(T value, int precision) {
  char room[kFixedRoom];
  const std::size_t n = write_short_fixed(value, precision, room);
  if (n == 0) return false;
  EXPECT_EQ(std::string(room, n), fmt::format("{:.{}f}", value, precision))
      << "value bits " << fmt::format("{:a}", static_cast<double>(value)) << " precision "
      << precision;
  return true;
}

template <typename T>
T from_bits(std::uint64_t bits) {
  if constexpr (sizeof(T) == 4) {
    const auto b = static_cast<std::uint32_t>(bits);
    T v;
    std::memcpy(&v, &b, 4);
    return v;
  } else {
    T v;
    std::memcpy(&v, &bits, 8);
    return v;
  }
}

template <typename T>
void check_many() {
  std::mt19937_64 rng(2026);
  std::vector<T> values = {std::numeric_limits<T>::infinity(), std::numeric_limits<T>::quiet_NaN(),
                           std::numeric_limits<T>::max(), std::numeric_limits<T>::denorm_min()};
  for (const double v :
       {0.0,   -0.0, 0.5,  1.5,        2.5,  0.0005, 0.0015, 1.0005, 7.535, -7.535,
        0.125, 0.1,  1e-7, 123456.789, 1e10, 1e12,   4.5e12, 1e15,   1e17,  1e30}) {
    values.push_back(static_cast<T>(v));
  }
  for (int i = 0; i < 20000; ++i) {
    // Short decimals (what programs log: milliseconds, ratios, prices), and their neighbours.
    const auto m = static_cast<std::int64_t>(rng() % 100000000) - 50000000;
    const T decimal = static_cast<T>(static_cast<double>(m) / std::pow(10.0, rng() % 9));
    values.push_back(decimal);
    values.push_back(std::nextafter(decimal, T(1e30)));
    values.push_back(std::nextafter(decimal, T(-1e30)));
    values.push_back(from_bits<T>(rng()));  // anything, NaNs included
  }
  for (const T v : values) {
    for (int precision = 0; precision <= 17; ++precision) check(v, precision);
  }
}

TEST(FixedFloat, DoublesMatchFmtWheneverTheShortWayAnswers) { check_many<double>(); }
TEST(FixedFloat, FloatsMatchFmtWheneverTheShortWayAnswers) { check_many<float>(); }

// It must answer what programs log (milliseconds, ratios, prices), or it saves nothing.
TEST(FixedFloat, AnswersTheUsualCases) {
  EXPECT_TRUE(check(7.535, 3));
  EXPECT_TRUE(check(7.535F, 3));
  EXPECT_TRUE(check(0.25F, 2));
  EXPECT_TRUE(check(-1234.5, 2));
  EXPECT_TRUE(check(99.99, 6));
  char room[kFixedRoom];
  auto text = [&](double v, int p) { return std::string(room, write_short_fixed(v, p, room)); };
  EXPECT_EQ(text(7.535, 3), "7.535");
  EXPECT_EQ(text(7.5, 3), "7.500");
  EXPECT_EQ(text(42.0, 0), "42");
  EXPECT_EQ(text(42.0, 2), "42.00");
  EXPECT_EQ(text(-0.0, 1), "-0.0");
  // Values that need more decimals than asked for are rounded as fmt rounds them (a sum of
  // milliseconds is seldom a short decimal).
  EXPECT_TRUE(check(0.0015, 3));
  EXPECT_TRUE(check(7.535 + 4.571, 3));
  EXPECT_EQ(text(7.535 + 4.571, 3), "12.106");
  EXPECT_TRUE(check(-0.0004, 3));
  EXPECT_TRUE(check(2.0 / 3, 9));
  // Exact ties, and values too large for the short way, go to fmt.
  EXPECT_EQ(write_short_fixed(2.5, 0, room), 0U);
  EXPECT_EQ(write_short_fixed(0.125, 2, room), 0U);
  EXPECT_EQ(write_short_fixed(1e300, 3, room), 0U);
  EXPECT_EQ(write_short_fixed(1e15, 3, room), 0U);
  EXPECT_EQ(write_short_fixed(std::nan(""), 3, room), 0U);
}

// The shortest form ("{}"), where the short way answers, is fmt's to the byte.
TEST(FixedFloat, ShortestMatchesFmtWheneverTheShortWayAnswers) {
  std::mt19937_64 rng(7);
  std::vector<double> values = {0.0,
                                -0.0,
                                1.0,
                                0.5,
                                0.1,
                                0.2,
                                0.3,
                                7.535,
                                1e-4,
                                1e15,
                                9.99e14,
                                1.5e-4,
                                0.00010000000000000002,
                                123456789012.345,
                                2.0,
                                1024.0,
                                0x1p-3,
                                1.0 / 3,
                                2.0 / 3,
                                1e300,
                                5e-324};
  for (int i = 0; i < 200000; ++i) {
    const auto m = static_cast<std::int64_t>(rng() % 2000000000000) - 1000000000000;
    const double decimal = static_cast<double>(m) / std::pow(10.0, static_cast<int>(rng() % 17));
    values.push_back(decimal);
    values.push_back(std::nextafter(decimal, 1e300));
    values.push_back(std::nextafter(decimal, -1e300));
    values.push_back(from_bits<double>(rng()));
    values.push_back(std::ldexp(1.0, static_cast<int>(rng() % 100) - 50));
    values.push_back(static_cast<double>(static_cast<float>(decimal)));  // a float field
  }
  std::size_t answered = 0;
  for (const double v : values) {
    char room[kFixedRoom];
    const std::size_t n = blackbox::reader::write_shortest(v, room);
    if (n == 0) continue;
    ++answered;
    ASSERT_EQ(std::string(room, n), fmt::format("{}", v)) << fmt::format("{:a}", v);
  }
  // It answers the usual cases (one value in six is a short decimal), or saves nothing.
  EXPECT_GT(answered, values.size() / 6);
  char room[kFixedRoom];
  EXPECT_EQ(std::string(room, blackbox::reader::write_shortest(7.535, room)), "7.535");
  EXPECT_EQ(std::string(room, blackbox::reader::write_shortest(-120.0, room)), "-120");
}

}  // namespace
