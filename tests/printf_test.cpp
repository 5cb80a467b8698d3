// printf-style calls (BBX_PRINTF, BBX_*F): formatted when read exactly as snprintf formats the
// same arguments. A property test drives the reader's formatting with random conversions
// (flags, widths, precisions, '*', length modifiers, edge values) against snprintf; the
// macros are checked end to end through the ring.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "format/site_entry.hpp"
#include "reader/decode.hpp"
#include "support/test_env.hpp"

namespace {

using blackbox::detail::ArgType;

// One argument: its wire type and value, and how snprintf receives it.
struct Arg {
  Arg(ArgType t = ArgType::i32, std::int64_t i_ = 0, double d_ = 0, std::string s_ = {})
      : type(t), i(i_), d(d_), s(std::move(s_)) {}
  ArgType type;
  std::int64_t i;  // integers (unsigned ones as their bits), chars, bools, pointers
  double d;
  std::string s;
};

void put_bytes(std::vector<std::byte>& out, const void* p, std::size_t n) {
  const auto* b = static_cast<const std::byte*>(p);
  out.insert(out.end(), b, b + n);
}

// The arguments as a record carries them (detail/encode.hpp: packed, strings length-first).
std::vector<std::byte> wire(const std::vector<Arg>& args) {
  std::vector<std::byte> out;
  for (const Arg& a : args) {
    switch (a.type) {
      case ArgType::i8:
      case ArgType::u8:
      case ArgType::boolean:
      case ArgType::character: {
        const auto v = static_cast<std::uint8_t>(a.i);
        put_bytes(out, &v, 1);
        break;
      }
      case ArgType::i16:
      case ArgType::u16: {
        const auto v = static_cast<std::uint16_t>(a.i);
        put_bytes(out, &v, 2);
        break;
      }
      case ArgType::i32:
      case ArgType::u32: {
        const auto v = static_cast<std::uint32_t>(a.i);
        put_bytes(out, &v, 4);
        break;
      }
      case ArgType::i64:
      case ArgType::u64:
      case ArgType::pointer:
        put_bytes(out, &a.i, 8);
        break;
      case ArgType::f32: {
        const auto v = static_cast<float>(a.d);
        put_bytes(out, &v, 4);
        break;
      }
      case ArgType::f64:
        put_bytes(out, &a.d, 8);
        break;
      case ArgType::string:
      case ArgType::formatted: {
        const auto n = static_cast<std::uint32_t>(a.s.size());
        put_bytes(out, &n, 4);
        put_bytes(out, a.s.data(), a.s.size());
        break;
      }
    }
  }
  return out;
}

std::string c_format(const char* format, ...) {
  va_list ap, again;
  va_start(ap, format);
  va_copy(again, ap);
  const int n = std::vsnprintf(nullptr, 0, format, ap);
  va_end(ap);
  std::string out(static_cast<std::size_t>(n) + 1, '\0');
  std::vsnprintf(out.data(), out.size(), format, again);
  va_end(again);
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// snprintf with the value as printf receives it for this conversion and wire type.
template <typename... Stars>
std::string expected(const std::string& format, const Arg& v, char length, Stars... stars) {
  const char* f = format.c_str();
  switch (v.type) {
    case ArgType::f32:
      return c_format(f, stars..., static_cast<double>(static_cast<float>(v.d)));
    case ArgType::f64:
      return c_format(f, stars..., v.d);
    case ArgType::string:
      return c_format(f, stars..., v.s.c_str());
    case ArgType::pointer:
      return c_format(f, stars..., reinterpret_cast<void*>(static_cast<std::uintptr_t>(v.i)));
    case ArgType::i64:
    case ArgType::u64:
      return c_format(f, stars..., static_cast<long long>(v.i));
    case ArgType::u32:
      return c_format(f, stars..., static_cast<unsigned>(v.i));
    case ArgType::character:
      return c_format(f, stars..., static_cast<int>(static_cast<char>(v.i)));
    default:  // promoted to int
      (void)length;
      return c_format(f, stars..., static_cast<int>(v.i));
  }
}

class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {}
  std::uint64_t bits() { return rng_(); }
  int pick(int n) { return static_cast<int>(rng_() % static_cast<std::uint64_t>(n)); }
  bool coin() { return pick(2) == 0; }

  std::int64_t integer() {
    switch (pick(6)) {
      case 0:
        return 0;
      case 1:
        return pick(200) - 100;
      case 2:
        return std::numeric_limits<std::int64_t>::min();
      case 3:
        return std::numeric_limits<std::int32_t>::max();
      default:
        return static_cast<std::int64_t>(bits() >> pick(64));
    }
  }
  double floating() {
    static const double kSpecial[] = {0.0,
                                      -0.0,
                                      1.0,
                                      -1.0,
                                      0.5,
                                      0.1,
                                      1e-300,
                                      4.9e-324,
                                      1e300,
                                      123456789.0,
                                      1e15,
                                      9.5,
                                      2.5,
                                      0.05,
                                      std::numeric_limits<double>::infinity(),
                                      -std::numeric_limits<double>::infinity(),
                                      std::numeric_limits<double>::quiet_NaN(),
                                      std::numeric_limits<double>::max(),
                                      std::numeric_limits<double>::denorm_min()};
    if (coin()) return kSpecial[pick(std::size(kSpecial))];
    if (coin()) return (static_cast<double>(pick(2000000)) - 1e6) / std::pow(10.0, pick(12));
    const std::uint64_t b = bits();
    double d;
    std::memcpy(&d, &b, 8);
    return d;
  }
  std::string text() {
    static const char* kPieces[] = {"a", "hello", " ", "é", "日本", "x y", "%", "\t", "€uro"};
    std::string s;
    for (int n = pick(5); n > 0; --n) s += kPieces[pick(std::size(kPieces))];
    return s;
  }
  // [flags][width][.precision] with the given flag set; '*' pushes int star arguments.
  std::string flags_width_precision(const char* flag_set, bool precision_ok,
                                    std::vector<int>& stars) {
    std::string spec;
    for (const char* f = flag_set; *f != '\0'; ++f) {
      if (pick(4) == 0) spec += *f;
    }
    switch (pick(4)) {
      case 0:
        spec += std::to_string(pick(25));
        break;
      case 1:
        spec += '*';
        stars.push_back(pick(50) - 25);
        break;
      default:
        break;
    }
    if (precision_ok) {
      switch (pick(5)) {
        case 0:
          spec += "." + std::to_string(pick(20));
          break;
        case 1:
          spec += ".";
          break;
        case 2:
          spec += ".*";
          stars.push_back(pick(30) - 5);
          break;
        default:
          break;
      }
    }
    return spec;
  }

 private:
  std::mt19937_64 rng_;
};

// One random conversion: the format, its star arguments, its value; and the length
// modifier, for the expectation.
struct Case {
  std::string format;
  std::vector<int> stars;
  Arg value;
  char length = 0;
};

Case random_case(Generator& g) {
  Case c;
  const int kind = g.pick(6);
  if (kind <= 1) {  // integers
    const char conversion = "diuoxX"[g.pick(6)];
    const bool is_signed = conversion == 'd' || conversion == 'i';
    const std::string flags = g.flags_width_precision(is_signed ? "-+ 0" : "-#0", true, c.stars);
    static const ArgType kNarrow[] = {ArgType::i8,      ArgType::i16,      ArgType::i32,
                                      ArgType::u8,      ArgType::u16,      ArgType::u32,
                                      ArgType::boolean, ArgType::character};
    static const char* kWide[] = {"l", "ll", "j", "z", "t"};
    std::string length;
    c.value.i = g.integer();
    if (g.coin()) {
      length = kWide[g.pick(5)];
      c.value.type = g.coin() ? ArgType::i64 : ArgType::u64;
      c.length = 'l';
    } else {
      c.value.type = kNarrow[g.pick(8)];
      if (g.pick(3) == 0) {
        length = g.coin() ? "hh" : "h";
        c.length = length[1] == 'h' ? 'H' : 'h';
      }
      // The value the wire type holds.
      switch (c.value.type) {
        case ArgType::i8:
          c.value.i = static_cast<std::int8_t>(c.value.i);
          break;
        case ArgType::i16:
          c.value.i = static_cast<std::int16_t>(c.value.i);
          break;
        case ArgType::i32:
          c.value.i = static_cast<std::int32_t>(c.value.i);
          break;
        case ArgType::u8:
          c.value.i = static_cast<std::uint8_t>(c.value.i);
          break;
        case ArgType::u16:
          c.value.i = static_cast<std::uint16_t>(c.value.i);
          break;
        case ArgType::u32:
          c.value.i = static_cast<std::uint32_t>(c.value.i);
          break;
        case ArgType::boolean:
          c.value.i = c.value.i & 1;
          break;
        default:
          c.value.i = static_cast<char>(c.value.i);
          break;
      }
    }
    c.format = "%" + flags + length + conversion;
  } else if (kind == 2) {  // floating point
    const char conversion = "fFeEgGaA"[g.pick(8)];
    c.format =
        "%" + g.flags_width_precision("-+ #0", true, c.stars) + (g.coin() ? "l" : "") + conversion;
    c.value.type = g.pick(4) == 0 ? ArgType::f32 : ArgType::f64;
    c.value.d = g.floating();
  } else if (kind == 3) {
    c.format = "%" + g.flags_width_precision("-", true, c.stars) + "s";
    c.value.type = ArgType::string;
    c.value.s = g.text();
  } else if (kind == 4) {
    c.format = "%" + g.flags_width_precision("-", false, c.stars) + "c";
    c.value.type = g.coin() ? ArgType::character : ArgType::i32;
    c.value.i = 32 + g.pick(95);
  } else {
    c.format = "%" + g.flags_width_precision("-", false, c.stars) + "p";
    c.value.type = ArgType::pointer;
    c.value.i = g.coin() ? 0 : static_cast<std::int64_t>(g.bits() >> 16);
  }
  return c;
}

// What the reader makes of `format` with `args`.
std::string read_back(const std::string& format, const std::vector<Arg>& args) {
  blackbox::ring::SiteInfo site;
  for (const Arg& a : args) site.types.push_back(a.type);
  site.message_template = format;
  site.printf_format = true;
  site.template_ok = blackbox::ring::parse_printf_format(format, site);
  EXPECT_TRUE(site.template_ok) << format;
  const std::vector<std::byte> bytes = wire(args);
  blackbox::Record record;
  EXPECT_TRUE(blackbox::reader::decode_args(site, bytes.data(), bytes.size(), record));
  return record.message;
}

TEST(PrintfTest, RoundTripsToSnprintf) {
  Generator g(20261130);
  int checked = 0;
  for (int trial = 0; trial < 200000; ++trial) {
    const Case c = random_case(g);
    std::vector<Arg> args;
    for (int star : c.stars) args.push_back({ArgType::i32, star});
    args.push_back(c.value);
    const std::string format = "<" + c.format + ">";
    std::string want;
    if (c.stars.empty()) want = expected(format, c.value, c.length);
    if (c.stars.size() == 1) want = expected(format, c.value, c.length, c.stars[0]);
    if (c.stars.size() == 2) want = expected(format, c.value, c.length, c.stars[0], c.stars[1]);
    ASSERT_EQ(read_back(format, args), want)
        << "format " << c.format << " value " << c.value.i << " / " << c.value.d << " / \""
        << c.value.s << "\" stars " << (c.stars.empty() ? 0 : c.stars[0]);
    ++checked;
  }
  EXPECT_EQ(checked, 200000);
}

TEST(PrintfTest, SeveralConversionsAndLiterals) {
  const std::vector<Arg> args = {{ArgType::i32, 42},
                                 {ArgType::string, 0, 0, "bob"},
                                 {ArgType::f64, 0, 2.5},
                                 {ArgType::i32, 7}};
  EXPECT_EQ(read_back("took %d ms for %s (%.1f%%) [%03d]", args),
            "took 42 ms for bob (2.5%) [007]");
  EXPECT_EQ(read_back("100%% sure", {}), "100% sure");
}

// A damaged or hostile format (from a file) is shown raw, never passed to a formatter that
// could misbehave: conversions that do not fit their argument types, %n, huge widths.
TEST(PrintfTest, UnusableFormatsAreRefused) {
  blackbox::ring::SiteInfo site;
  site.types = {ArgType::i32};
  EXPECT_FALSE(blackbox::ring::parse_printf_format("%s", site));
  EXPECT_FALSE(blackbox::ring::parse_printf_format("%n", site));
  EXPECT_FALSE(blackbox::ring::parse_printf_format("%99999d", site));
  EXPECT_FALSE(blackbox::ring::parse_printf_format("%d %d", site));
  EXPECT_FALSE(blackbox::ring::parse_printf_format("", site));
  EXPECT_FALSE(blackbox::ring::parse_printf_format("%", site));
  EXPECT_FALSE(blackbox::ring::parse_printf_format("%Lf", site));
  EXPECT_TRUE(blackbox::ring::parse_printf_format("%'d", site));
  site.types = {ArgType::i64, ArgType::f64};
  EXPECT_FALSE(blackbox::ring::parse_printf_format("%*f", site));  // a star needs an int
}

// The macros end to end: compile-time checked, recorded raw, read back as snprintf.
TEST(PrintfTest, MacrosThroughTheRing) {
  const char* user = "alice";
  const std::string name = "bob";
  const int ms = 42;
  const long big = 1L << 40;
  const double ratio = 0.125;
  const unsigned char small = 200;
  BBX_INFOF("took %d ms for %s\n", ms, user);
  BBX_WARNF("%-6s|%5.2f|%ld|%#x|%hhu|%c", name, ratio, big, 255u, small, 'z');
  BBX_ERRORF("%*d|%-*.*s|%p|%%", 5, ms, 8, 3, user, static_cast<const void*>(nullptr));
  BBX_PRINTF(blackbox::Level::info, "%zu items, %jd max, %s", std::size_t{3}, std::intmax_t{-1},
             std::string_view("view"));
  BBX_LOGF("net", blackbox::Level::debug, "disabled: not logged %d", 1);
  const auto records = blackbox::test::read_own_ring();
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].message, "took 42 ms for alice");  // the newline dropped
  EXPECT_EQ(records[0].message_template, "took %d ms for %s");
  EXPECT_EQ(records[0].level, blackbox::Level::info);
  ASSERT_EQ(records[0].fields.size(), 2u);
  EXPECT_EQ(std::get<std::int64_t>(records[0].fields[0].value), 42);
  EXPECT_EQ(std::get<std::string>(records[0].fields[1].value), "alice");
  char want[256];
  std::snprintf(want, sizeof want, "%-6s|%5.2f|%ld|%#x|%hhu|%c", name.c_str(), ratio, big, 255u,
                small, 'z');
  EXPECT_EQ(records[1].message, want);
  EXPECT_EQ(records[1].level, blackbox::Level::warn);
  std::snprintf(want, sizeof want, "%*d|%-*.*s|%p|%%", 5, ms, 8, 3, user,
                static_cast<const void*>(nullptr));
  EXPECT_EQ(records[2].message, want);
  EXPECT_EQ(records[3].message, "3 items, -1 max, view");
}

}  // namespace
