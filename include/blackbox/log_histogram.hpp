// Log-linear histograms: the one histogram of blackbox, used by the logger's own telemetry
// (the flusher's pass time and write latency) and by application metrics.
//
// The bins are base-10 log-linear with two significant digits, as libcircllhist's: 0..9
// exactly, then 90 bins per decade, [10,11), [11,12), ... [99,100), [100,110), ...
// [990,1000), [1000,1100), ... up to the top of the 64-bit range. Bins are the same
// everywhere and never depend on configuration, so any two histograms merge exactly (add
// the bins), and a quantile read from the bins is within 5 % of the true value (the bin's
// midpoint is at most half a bin, 0.5 in 10, from anything in it).
//
// Values are unsigned integers: nanoseconds, bytes, counts. Recording one is a few
// instructions (a count of leading zeros, a table lookup, a division by a power of ten).
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace blackbox {

namespace log_bins {

inline constexpr std::uint32_t kPerDecade = 90;
// 10 exact bins, then 90 per decade for exponents 0..18 (2^64 - 1 = 1.8e19 falls in bin
// [18e18, 19e18), the last one).
inline constexpr std::uint32_t kCount = 10 + kPerDecade * 18 + 9;  // 1639

inline constexpr std::array<std::uint64_t, 20> kPow10 = [] {
  std::array<std::uint64_t, 20> p{};
  p[0] = 1;
  for (std::size_t i = 1; i < p.size(); ++i) p[i] = p[i - 1] * 10;
  return p;
}();

__extension__ typedef unsigned __int128 uint128;  // 64 x 64-bit products

// ceil(2^64 / 10^e): v / 10^e as a multiplication (a 64-bit division takes tens of cycles).
inline constexpr std::array<std::uint64_t, 20> kInvPow10 = [] {
  std::array<std::uint64_t, 20> r{};
  r[0] = 0;  // unused: exponent 0 divides by 1
  for (std::size_t i = 1; i < r.size(); ++i) {
    r[i] = static_cast<std::uint64_t>((static_cast<uint128>(1) << 64) / kPow10[i]) + 1;
  }
  return r;
}();

// The bin holding `v`.
[[nodiscard]] constexpr std::uint32_t index(std::uint64_t v) noexcept {
  if (v < 10) return static_cast<std::uint32_t>(v);
  // Decimal digits of v: log10(2) ~ 1233/4096 gives it to within one, the table settles it.
  const auto bits = static_cast<std::uint32_t>(64 - std::countl_zero(v));
  const std::uint32_t t = (bits * 1233) >> 12;
  const std::uint32_t digits = t + (v >= kPow10[t] ? 1 : 0);
  const std::uint32_t exponent = digits - 2;  // v = m * 10^exponent, m in 10..99
  std::uint64_t m = v;
  if (exponent != 0) {
    // floor(v / 10^e), or one more: the reciprocal is rounded up. One compare corrects it.
    m = static_cast<std::uint64_t>((static_cast<uint128>(v) * kInvPow10[exponent]) >> 64);
    if (m * kPow10[exponent] > v) --m;
  }
  return 10 + kPerDecade * exponent + static_cast<std::uint32_t>(m - 10);
}

// The smallest value in bin `bin` (< kCount).
[[nodiscard]] constexpr std::uint64_t lower(std::uint32_t bin) noexcept {
  if (bin < 10) return bin;
  const std::uint32_t exponent = (bin - 10) / kPerDecade;
  const std::uint32_t m = 10 + (bin - 10) % kPerDecade;
  return m * kPow10[exponent];
}

// One past the largest value in bin `bin`, as a double (the last bin's end, 1.9e19, is past
// the 64-bit range).
[[nodiscard]] constexpr double upper(std::uint32_t bin) noexcept {
  if (bin < 10) return static_cast<double>(bin) + 1;
  const std::uint32_t exponent = (bin - 10) / kPerDecade;
  const std::uint32_t m = 10 + (bin - 10) % kPerDecade;
  return static_cast<double>(m + 1) * static_cast<double>(kPow10[exponent]);
}

// What a quantile falling in bin `bin` reads as: the value itself for a bin one value wide
// (0..99), else the bin's midpoint.
[[nodiscard]] constexpr double estimate(std::uint32_t bin) noexcept {
  if (bin < 100) return static_cast<double>(lower(bin));
  return (static_cast<double>(lower(bin)) + upper(bin)) / 2;
}

}  // namespace log_bins

// A log-linear histogram as plain data: one count per bin, the exact count, sum, min and
// max. Not thread-safe (a value: the telemetry's shared bins and the metrics' per-thread
// bins are read into one of these). 13 KiB.
class LogHistogram {
 public:
  void record(std::uint64_t value, std::uint64_t times = 1) noexcept {
    if (times == 0) return;
    bins_[log_bins::index(value)] += times;
    if (count_ == 0 || value < min_) min_ = value;
    if (value > max_) max_ = value;
    count_ += times;
    sum_ += value * times;
  }
  // Adds `other`'s counts: exact, whatever recorded them.
  void merge(const LogHistogram& other) noexcept {
    for (std::uint32_t i = 0; i < log_bins::kCount; ++i) bins_[i] += other.bins_[i];
    if (other.count_ != 0) {
      if (count_ == 0 || other.min_ < min_) min_ = other.min_;
      if (other.max_ > max_) max_ = other.max_;
    }
    count_ += other.count_;
    sum_ += other.sum_;
  }
  // Sets bin `bin` to `n` (a reader filling it from stored bins); count() follows the bins.
  // Sum, min and max are set separately (set_summary); without them min and max come from
  // the bins' edges.
  void set_bin(std::uint32_t bin, std::uint64_t n) noexcept {
    if (bin >= log_bins::kCount) return;
    count_ = count_ - bins_[bin] + n;
    bins_[bin] = n;
  }
  void set_summary(std::uint64_t sum, std::uint64_t min, std::uint64_t max) noexcept {
    sum_ = sum;
    min_ = min;
    max_ = max;
  }
  // Sets the sum, and min and max from the edges of the outermost bins that hold values
  // (bins filled with set_bin(), where min and max were not kept).
  void set_sum_and_edges(std::uint64_t sum) noexcept {
    sum_ = sum;
    std::uint32_t first = log_bins::kCount, last = 0;
    for (std::uint32_t i = 0; i < log_bins::kCount; ++i) {
      if (bins_[i] == 0) continue;
      if (first == log_bins::kCount) first = i;
      last = i;
    }
    if (first == log_bins::kCount) return;
    min_ = log_bins::lower(first);
    const double top = log_bins::upper(last) - 1;  // values are integers
    max_ = top >= 1.8e19 ? UINT64_MAX : static_cast<std::uint64_t>(top);
  }

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  // Wraps past 2^64 (it is a sum of what was recorded, exact below that).
  [[nodiscard]] std::uint64_t sum() const noexcept { return sum_; }
  [[nodiscard]] std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  [[nodiscard]] double mean() const noexcept {
    return count_ == 0 ? 0 : static_cast<double>(sum_) / static_cast<double>(count_);
  }
  [[nodiscard]] std::uint64_t bin(std::uint32_t i) const noexcept {
    return i < log_bins::kCount ? bins_[i] : 0;
  }
  [[nodiscard]] const std::array<std::uint64_t, log_bins::kCount>& bins() const noexcept {
    return bins_;
  }

  // The q-quantile (0 <= q <= 1) by nearest rank: the estimate of the bin holding the
  // ceil(q * count)-th smallest value (the smallest for q = 0), within 5 % of that value.
  // q = 1 is the exact max, q = 0 the exact min, when they are known. 0 if empty.
  [[nodiscard]] double quantile(double q) const noexcept {
    if (count_ == 0) return 0;
    if (q <= 0) return static_cast<double>(min_);
    if (q >= 1) return static_cast<double>(max_);
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_));
    if (static_cast<double>(rank) < q * static_cast<double>(count_)) ++rank;  // ceil
    if (rank == 0) rank = 1;
    std::uint64_t seen = 0;
    for (std::uint32_t i = 0; i < log_bins::kCount; ++i) {
      seen += bins_[i];
      if (seen >= rank) return log_bins::estimate(i);
    }
    return static_cast<double>(max_);
  }

 private:
  std::array<std::uint64_t, log_bins::kCount> bins_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace blackbox
