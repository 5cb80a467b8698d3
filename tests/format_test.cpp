// Property test: every argument type and spec the call site accepts is recorded raw and
// formatted by the reader to exactly what fmt::format makes of the same template and values.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "blackbox/text.hpp"
#include "support/test_env.hpp"

namespace {

enum Plain { plain_a = 3, plain_b = -7 };
enum class Scoped : std::uint16_t { one = 1, big = 65535 };

struct Money {
  long cents;
};

}  // namespace

// A type with only a formatter (and its own spec): formatted at the call site.
template <>
struct fmt::formatter<Money> {
  bool with_symbol = false;
  constexpr auto parse(format_parse_context& ctx) {
    auto it = ctx.begin();
    if (it != ctx.end() && *it == '$') {
      with_symbol = true;
      ++it;
    }
    return it;
  }
  auto format(const Money& m, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "{}{}.{:02}", with_symbol ? "$" : "", m.cents / 100,
                          std::abs(m.cents % 100));
  }
};

namespace {

class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {}

  template <typename T>
  T integer() {
    // A third edge values, the rest uniform over the whole range.
    static const T edges[] = {std::numeric_limits<T>::min(), std::numeric_limits<T>::max(), T(0),
                              T(1), static_cast<T>(-1)};
    if (rng_() % 3 == 0) return edges[rng_() % 5];
    return static_cast<T>(rng_());
  }
  template <typename T>
  T real() {
    static const T edges[] = {T(0),
                              -T(0),
                              std::numeric_limits<T>::infinity(),
                              -std::numeric_limits<T>::infinity(),
                              std::numeric_limits<T>::quiet_NaN(),
                              std::numeric_limits<T>::min(),
                              std::numeric_limits<T>::max(),
                              std::numeric_limits<T>::denorm_min(),
                              T(0.1),
                              T(1e10)};
    if (rng_() % 4 == 0) return edges[rng_() % 10];
    std::uniform_real_distribution<double> d(-1e6, 1e6);
    return static_cast<T>(d(rng_) * std::pow(10.0, static_cast<int>(rng_() % 21) - 10));
  }
  std::string text() {
    static const char* pieces[] = {"a", "Z", " ", "{", "}", "%", "\\", "é", "日本", "\t", "0", "x"};
    std::string s;
    const auto n = rng_() % 24;
    for (std::uint64_t i = 0; i < n; ++i) s += pieces[rng_() % 12];
    return s;
  }
  char character() { return static_cast<char>(32 + rng_() % 95); }
  bool boolean() { return rng_() % 2 == 0; }

 private:
  std::mt19937_64 rng_;
};

// Logs one record and remembers what fmt says it must read back as.
struct Expectations {
  std::vector<std::string> messages;
};

#define EXPECT_ROUND_TRIP(exp, tmpl, ...)                          \
  do {                                                             \
    (exp).messages.push_back(fmt::format(tmpl, __VA_ARGS__));      \
    BBX_LOG("format", ::blackbox::Level::info, tmpl, __VA_ARGS__); \
  } while (0)

void check_batch(blackbox::RingReader& reader, const Expectations& exp, std::uint64_t lost_before) {
  std::vector<std::string> got;
  reader.poll([&](const blackbox::Record& r) {
    if (r.tag == "format") got.push_back(r.message);
  });
  ASSERT_EQ(got.size(), exp.messages.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], exp.messages[i]) << "record " << i;
  }
  ASSERT_EQ(reader.lost_records(), lost_before);
}

// One record of every argument type with a variety of specs, each expected as fmt::format
// makes it.
void log_every_type(Generator& gen, Expectations& exp) {
  const auto i8 = gen.integer<std::int8_t>();
  const auto i16 = gen.integer<std::int16_t>();
  const auto i32 = gen.integer<std::int32_t>();
  const auto i64 = gen.integer<std::int64_t>();
  const auto u8 = gen.integer<std::uint8_t>();
  const auto u16 = gen.integer<std::uint16_t>();
  const auto u32 = gen.integer<std::uint32_t>();
  const auto u64 = gen.integer<std::uint64_t>();
  const long l = gen.integer<long>();
  const unsigned long long ull = gen.integer<unsigned long long>();
  const auto f = gen.real<float>();
  const auto d = gen.real<double>();
  const bool b = gen.boolean();
  const char c = gen.character();
  const std::string s = gen.text();
  const std::string_view sv = s;
  const char* cs = s.c_str();
  const void* ptr = reinterpret_cast<const void*>(static_cast<std::uintptr_t>(u64));
  int local = 0;
  int* iptr = &local;

  EXPECT_ROUND_TRIP(exp, "i8 {} {:x} {:+d} {:>5} {:#b}", i8, i8, i8, i8, i8);
  EXPECT_ROUND_TRIP(exp, "i16 {} {:#x} {:08d} {:<10}|", i16, i16, i16, i16);
  EXPECT_ROUND_TRIP(exp, "i32 {} {:#X} {:+012d} {:^11} {:o}", i32, i32, i32, i32, i32);
  EXPECT_ROUND_TRIP(exp, "i64 {} {:x} {:>25} {:b}", i64, i64, i64, i64);
  EXPECT_ROUND_TRIP(exp, "u8 {} {:X} {:#o} {:c}", u8, u8, u8,
                    static_cast<std::uint8_t>(u8 % 95 + 32));
  EXPECT_ROUND_TRIP(exp, "u16 {} {:#x} {:>8}", u16, u16, u16);
  EXPECT_ROUND_TRIP(exp, "u32 {} {:08X} {:<12}|", u32, u32, u32);
  EXPECT_ROUND_TRIP(exp, "u64 {} {:#x} {:30}|", u64, u64, u64);
  EXPECT_ROUND_TRIP(exp, "long {} {:x} ull {} {:#b}", l, l, ull, ull);
  EXPECT_ROUND_TRIP(exp, "float {} {:.3f} {:e} {:g} {:10.2f} {:a}", f, f, f, f, f, f);
  EXPECT_ROUND_TRIP(exp, "double {} {:.10g} {:+.3e} {:a} {:>20.5f} {:G}", d, d, d, d, d, d);
  EXPECT_ROUND_TRIP(exp, "bool {} {:d} {:>6} {:<7}|", b, b, b, b);
  EXPECT_ROUND_TRIP(exp, "char {} {:d} {:x} {:>4} {:^5}|", c, c, c, c, c);
  EXPECT_ROUND_TRIP(exp, "str [{}] [{:>10}] [{:.3}] [{:*^9}] [{:<12}]", s, s, s, s, s);
  EXPECT_ROUND_TRIP(exp, "sv [{}] [{:>30}] cstr [{}] [{:.5}]", sv, sv, cs, cs);
  EXPECT_ROUND_TRIP(exp, "literal [{}] [{:>8}]", "lit", "eral");
  EXPECT_ROUND_TRIP(exp, "ptr {} {:>20} {}", ptr, ptr, static_cast<const void*>(iptr));
  EXPECT_ROUND_TRIP(exp, "null {}", static_cast<const void*>(nullptr));
  EXPECT_ROUND_TRIP(exp, "enum {} {} {:x}", static_cast<int>(plain_a), static_cast<int>(plain_b),
                    static_cast<std::uint16_t>(Scoped::big));
  EXPECT_ROUND_TRIP(exp, "escapes {{}} {{{}}} }}{{", i32);
  EXPECT_ROUND_TRIP(exp, "money {} {:$}", Money{i32}, Money{-i16});
  // Enums are recorded as their underlying integer: fmt formats that value.
  exp.messages.push_back(fmt::format("enums {} {} {:x}", static_cast<int>(plain_a),
                                     static_cast<int>(plain_b),
                                     static_cast<std::uint16_t>(Scoped::big)));
  BBX_LOG("format", blackbox::Level::info, "enums {} {} {:x}", plain_a, plain_b, Scoped::big);
  // Named placeholders read like fmt's named arguments.
  exp.messages.push_back(fmt::format("user {name} id {id:>6} ratio {r:.2f}", fmt::arg("name", s),
                                     fmt::arg("id", i32), fmt::arg("r", d)));
  BBX_LOG("format", blackbox::Level::info, "user {name} id {id:>6} ratio {r:.2f}", s, i32, d);
  exp.messages.push_back("no arguments at all");
  BBX_LOG("format", blackbox::Level::info, "no arguments at all");
}

TEST(FormatTest, EveryTypeAndSpecRoundTripsToFmt) {
  BBX_LOG("format", blackbox::Level::info, "start");  // starts the logger
  auto reader = blackbox::RingReader::open_self();
  ASSERT_TRUE(reader);
  reader->poll([](const blackbox::Record&) {});  // drain what was there before
  const std::uint64_t lost_before = reader->lost_records();
  Generator gen(std::random_device{}());
  for (int round = 0; round < 300; ++round) {
    Expectations exp;
    log_every_type(gen, exp);
    check_batch(*reader, exp, lost_before);
  }
}

TEST(FormatTest, FieldsKeepNamesAndTypedValues) {
  const std::string user = "ada";
  const std::uint32_t line = __LINE__ + 1;
  BBX_LOG("fields", blackbox::Level::warn, "id {id} ratio {ratio:.1f} ok {ok} {} c {ch} u {user}",
          std::int16_t{-12}, 2.5f, true, std::uint64_t{1} << 63, 'q', user);
  const auto records = blackbox::test::read_own_ring();
  const blackbox::Record* r = nullptr;
  for (const auto& rec : records) {
    if (rec.tag == "fields") r = &rec;
  }
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->message, "id -12 ratio 2.5 ok true 9223372036854775808 c q u ada");
  EXPECT_EQ(r->level, blackbox::Level::warn);
  ASSERT_EQ(r->fields.size(), 6u);
  EXPECT_EQ(r->fields[0].name, "id");
  EXPECT_EQ(std::get<std::int64_t>(r->fields[0].value), -12);
  EXPECT_EQ(r->fields[1].name, "ratio");
  EXPECT_EQ(std::get<double>(r->fields[1].value), 2.5);
  EXPECT_EQ(std::get<bool>(r->fields[2].value), true);
  EXPECT_EQ(r->fields[3].name, "");
  EXPECT_EQ(std::get<std::uint64_t>(r->fields[3].value), std::uint64_t{1} << 63);
  EXPECT_EQ(std::get<char>(r->fields[4].value), 'q');
  EXPECT_EQ(std::get<std::string>(r->fields[5].value), "ada");
  EXPECT_GE(r->line, line);  // compilers differ on a multi-line macro call's __LINE__
  EXPECT_LE(r->line, line + 1);
  EXPECT_EQ(r->function, "TestBody");
  EXPECT_NE(r->file.find("format_test.cpp"), std::string_view::npos);
  EXPECT_EQ(r->message_template, "id {id} ratio {ratio:.1f} ok {ok} {} c {ch} u {user}");
}

// JSON and logfmt lines written straight from encoded arguments (ReadFilter::encoded, what
// logcat -o json and -o logfmt read) are byte for byte the lines of the decoded records:
// every type and spec, the values JSON and logfmt quote or escape, a message logfmt leaves
// bare or quotes for its values alone, cut strings, and the sites those lines are decoded
// for (printf formats).
TEST(FormatTest, EncodedArgumentsRenderAsTheDecodedRecord) {
  BBX_LOG("encoded", blackbox::Level::info, "start");  // starts the logger
  const auto rounds = [] {
    Generator gen(std::random_device{}());
    for (int round = 0; round < 60; ++round) {
      Expectations unused;
      log_every_type(gen, unused);
      const std::string s = gen.text();
      const double d = gen.real<double>();
      const std::int64_t i = gen.integer<std::int64_t>();
      BBX_LOG("encoded", blackbox::Level::info, "{}", s);  // bare, or quoted for the value
      BBX_LOG("encoded", blackbox::Level::info, "{}", "");
      BBX_LOG("encoded", blackbox::Level::info, "{a}{b}", i, d);
      BBX_LOG("encoded", blackbox::Level::info, "x{c}", gen.character());
      BBX_LOG("encoded", blackbox::Level::info, "all {i8} {u64} {f} {d} {b} {c} {s} {p} {fs}",
              gen.integer<std::int8_t>(), gen.integer<std::uint64_t>(), gen.real<float>(), d,
              gen.boolean(), gen.character(), s, reinterpret_cast<const void*>(&s), Money{i % 999});
      BBX_LOG("encoded", blackbox::Level::info, "quote \"{q}\" {n:.3f} {e:.2f}", "q\"u\\o\x01te\n",
              d, std::numeric_limits<double>::infinity());
      BBX_LOG("encoded", blackbox::Level::info, "cut {big} and {small}", std::string(5000, 'x'),
              std::string_view("kept"));
      BBX_LOGF("encoded", blackbox::Level::info, "printf %d %s %.2f", static_cast<int>(i % 1000),
               s.c_str(), d);
    }
  };
  rounds();
  auto decoded = blackbox::RingReader::open_self();
  auto encoded = blackbox::RingReader::open_self();
  ASSERT_TRUE(decoded && encoded);
  blackbox::ReadFilter keep_encoded;
  keep_encoded.encoded = true;
  encoded->set_filter(keep_encoded);
  const std::vector<blackbox::Record> plain = decoded->read_sorted();
  const std::vector<blackbox::Record> raw = encoded->read_sorted();
  ASSERT_EQ(plain.size(), raw.size());
  using blackbox::text::Format;
  blackbox::text::Renderer json_a(Format::json, false, true), json_b(Format::json, false, true);
  blackbox::text::Renderer logfmt_a(Format::logfmt, false, true),
      logfmt_b(Format::logfmt, false, true);
  std::size_t kept_encoded = 0, cut = 0;
  for (std::size_t k = 0; k < plain.size(); ++k) {
    const blackbox::Record& a = plain[k];
    const blackbox::Record& b = raw[k];
    ASSERT_TRUE(a.encoded.empty());
    ASSERT_EQ(a.sequence, b.sequence);
    ASSERT_FALSE(b.encoded.empty());  // a record without arguments too (no bytes)
    ++kept_encoded;
    EXPECT_TRUE(b.message.empty());
    EXPECT_TRUE(b.fields.empty());
    EXPECT_EQ(a.truncated, b.truncated) << a.message;
    cut += a.truncated ? 1 : 0;
    blackbox::text::Buffer x(256), y(256);
    json_a.render(a, x);
    json_b.render(b, y);
    ASSERT_EQ(x.view(), y.view()) << "record " << k;
    x.clear();
    y.clear();
    logfmt_a.render(a, x);
    logfmt_b.render(b, y);
    ASSERT_EQ(x.view(), y.view()) << "record " << k;
    blackbox::Record c = b;
    ASSERT_TRUE(blackbox::decode_arguments(c));
    EXPECT_TRUE(c.encoded.empty());
    EXPECT_EQ(c.message, a.message);
    EXPECT_EQ(c.fields.size(), a.fields.size());
  }
  EXPECT_GT(kept_encoded, 60u * 30);
  EXPECT_EQ(cut, 60u);
}

}  // namespace
