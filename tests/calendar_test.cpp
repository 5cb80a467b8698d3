// sys::utc_calendar gives exactly gmtime_r's fields (without its lock), for times across
// the whole range a log can hold and every edge of the calendar; sys::error_text gives
// strerror's text (without its lock) in the C locale.
#include "sys/calendar.hpp"

#include <gtest/gtest.h>
#include <string.h>

#include <cstdint>
#include <ctime>
#include <random>
#include <string>

namespace {

void expect_same_as_gmtime(std::int64_t seconds) {
  const auto t = static_cast<std::time_t>(seconds);
  std::tm want{};
  ASSERT_NE(gmtime_r(&t, &want), nullptr) << seconds;
  const std::tm got = blackbox::sys::utc_calendar(seconds);
  EXPECT_EQ(got.tm_year, want.tm_year) << seconds;
  EXPECT_EQ(got.tm_mon, want.tm_mon) << seconds;
  EXPECT_EQ(got.tm_mday, want.tm_mday) << seconds;
  EXPECT_EQ(got.tm_hour, want.tm_hour) << seconds;
  EXPECT_EQ(got.tm_min, want.tm_min) << seconds;
  EXPECT_EQ(got.tm_sec, want.tm_sec) << seconds;
  EXPECT_EQ(got.tm_wday, want.tm_wday) << seconds;
  EXPECT_EQ(got.tm_yday, want.tm_yday) << seconds;
  EXPECT_EQ(got.tm_isdst, 0);
  EXPECT_EQ(got.tm_gmtoff, 0);
}

TEST(UtcCalendar, IsGmtimeAtEveryEdge) {
  // The epoch, a second either side; leap days (2000: a 400-year leap; 2100: no leap;
  // 2024); the ends of years; 32-bit time_t's end; before 1970; year 9999.
  for (const std::int64_t s :
       {0LL, -1LL, 1LL, 86'399LL, 86'400LL, -86'400LL, -86'401LL, 951'782'400LL, 951'868'799LL,
        4'107'542'400LL, 4'107'628'799LL, 1'709'164'800LL, 1'735'689'599LL, 2'147'483'647LL,
        2'147'483'648LL, -2'208'988'800LL, -62'135'596'800LL, 253'402'300'799LL}) {
    expect_same_as_gmtime(s);
  }
  // Every day, at a varying time, from 1900 to 2200.
  for (std::int64_t s = -2'208'988'800LL; s < 7'258'118'400LL; s += 86'400 + 3'607) {
    expect_same_as_gmtime(s);
  }
}

TEST(UtcCalendar, IsGmtimeForRandomTimes) {
  std::mt19937_64 random(20261207);
  std::uniform_int_distribution<std::int64_t> any(-62'135'596'800LL, 253'402'300'799LL);
  for (int i = 0; i < 200'000; ++i) expect_same_as_gmtime(any(random));
}

TEST(ErrorText, IsStrerrorInTheCLocale) {
  for (int err = 1; err < 134; ++err) {
    const std::string want = strerror(err);
    if (want.rfind("Unknown error", 0) == 0) {
      EXPECT_STREQ(blackbox::sys::error_text(err), "unknown error") << err;
    } else {
      EXPECT_EQ(want, blackbox::sys::error_text(err)) << err;
    }
  }
  EXPECT_STREQ(blackbox::sys::error_text(-5), "unknown error");
  EXPECT_STREQ(blackbox::sys::error_text(100'000), "unknown error");
}

}  // namespace
