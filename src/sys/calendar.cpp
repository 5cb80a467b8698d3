// Calendar fields and error texts without locks (calendar.hpp).
#include "sys/calendar.hpp"

#include <string.h>

#include "sys/fork_guard.hpp"

namespace blackbox::sys {

std::tm utc_calendar(std::int64_t seconds) noexcept {
  constexpr std::int64_t kDay = 86'400;
  std::int64_t days = seconds / kDay;
  std::int64_t rest = seconds % kDay;
  if (rest < 0) {  // before 1970: floor, not truncate
    rest += kDay;
    --days;
  }
  std::tm tm{};
  tm.tm_hour = static_cast<int>(rest / 3600);
  tm.tm_min = static_cast<int>(rest / 60 % 60);
  tm.tm_sec = static_cast<int>(rest % 60);
  tm.tm_wday = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday (4)
  // Days to a civil date in the proleptic Gregorian calendar, counting years from March so
  // that the leap day is the last of the year (H. Hinnant's civil_from_days).
  const std::int64_t z = days + 719'468;
  const std::int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
  const std::int64_t doe = z - era * 146'097;                                        // [0, 146096]
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;  // [0, 399]
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                  // [0, 365]
  const std::int64_t mp = (5 * doy + 2) / 153;                                       // [0, 11]
  const std::int64_t mday = doy - (153 * mp + 2) / 5 + 1;                            // [1, 31]
  const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;                              // [1, 12]
  const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  tm.tm_year = static_cast<int>(year - 1900);
  tm.tm_mon = static_cast<int>(month - 1);
  tm.tm_mday = static_cast<int>(mday);
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  static constexpr int kBeforeMonth[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
  tm.tm_yday = kBeforeMonth[month - 1] + static_cast<int>(mday) - 1 + (leap && month > 2 ? 1 : 0);
  tm.tm_isdst = 0;
  tm.tm_gmtoff = 0;
  tm.tm_zone = "UTC";
  return tm;
}

std::tm local_calendar(std::int64_t seconds) noexcept {
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  const ForkSafeSection section("localtime_r");
  localtime_r(&t, &tm);
  return tm;
}

const char* error_text(int err) noexcept {
  const char* text = strerrordesc_np(err);
  return text != nullptr ? text : "unknown error";
}

}  // namespace blackbox::sys
