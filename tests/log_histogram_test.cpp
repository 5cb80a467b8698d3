// The log-linear histogram: bin edges at every decade, quantiles against sorted samples
// (within 5 %), exact merges.
#include "blackbox/log_histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace {

using blackbox::LogHistogram;
namespace bins = blackbox::log_bins;

TEST(LogBins, ExactBelowOneHundred) {
  for (std::uint64_t v = 0; v < 100; ++v) {
    EXPECT_EQ(bins::index(v), v);
    EXPECT_EQ(bins::lower(static_cast<std::uint32_t>(v)), v);
    EXPECT_EQ(bins::estimate(static_cast<std::uint32_t>(v)), static_cast<double>(v));
  }
}

TEST(LogBins, EdgesAtEveryDecade) {
  // 10^k starts a bin, 10^k - 1 ends the one before, 90 bins apart from the next decade.
  for (std::uint32_t k = 2; k <= 19; ++k) {
    const std::uint64_t p = bins::kPow10[k];
    const std::uint32_t b = bins::index(p);
    SCOPED_TRACE(k);
    EXPECT_EQ(b, 10 + 90 * (k - 1));
    EXPECT_EQ(bins::lower(b), p);
    EXPECT_EQ(bins::index(p - 1), b - 1);
    EXPECT_EQ(bins::upper(b - 1), static_cast<double>(p));
    EXPECT_EQ(bins::index(p + p / 10 - 1), b);  // [10, 11) * 10^(k-1)
    EXPECT_EQ(bins::index(p + p / 10), b + 1);
  }
  EXPECT_EQ(bins::index(std::numeric_limits<std::uint64_t>::max()), bins::kCount - 1);
  EXPECT_EQ(bins::lower(bins::kCount - 1), 18'000'000'000'000'000'000ull);
}

TEST(LogBins, EveryValueFallsInsideItsBin) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200'000; ++i) {
    const std::uint64_t v = rng() >> (rng() % 64);
    const std::uint32_t b = bins::index(v);
    ASSERT_LT(b, bins::kCount);
    ASSERT_LE(bins::lower(b), v);
    ASSERT_LT(static_cast<double>(v), bins::upper(b));
    // Two significant digits: a bin is at most a tenth of its lower edge wide.
    ASSERT_LE(bins::upper(b) - static_cast<double>(bins::lower(b)),
              std::max(1.0, static_cast<double>(bins::lower(b)) / 10));
  }
}

// The nearest-rank quantile of sorted samples.
std::uint64_t true_quantile(const std::vector<std::uint64_t>& sorted, double q) {
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::max<std::size_t>(rank, 1) - 1];
}

TEST(LogHistogram, QuantilesWithinFivePercentOfSortedSamples) {
  std::mt19937_64 rng(11);
  // Latency-like distributions: log-normal, uniform over decades, and a spike.
  std::lognormal_distribution<double> lognormal(std::log(50'000.0), 1.2);
  std::vector<std::vector<std::uint64_t>> sets(3);
  for (int i = 0; i < 100'000; ++i) {
    sets[0].push_back(static_cast<std::uint64_t>(lognormal(rng)));
    sets[1].push_back(static_cast<std::uint64_t>(
        std::pow(10.0, 9.0 * static_cast<double>(rng() % 100'000) / 1e5)));
    sets[2].push_back(i % 100 == 0 ? 1'000'000'000 : 1'234);
  }
  for (auto& samples : sets) {
    LogHistogram h;
    for (const std::uint64_t v : samples) h.record(v);
    std::sort(samples.begin(), samples.end());
    ASSERT_EQ(h.count(), samples.size());
    EXPECT_EQ(h.min(), samples.front());
    EXPECT_EQ(h.max(), samples.back());
    for (const double q : {0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999}) {
      const double want = static_cast<double>(true_quantile(samples, q));
      const double got = h.quantile(q);
      SCOPED_TRACE(q);
      EXPECT_LE(std::abs(got - want), 0.05 * want) << got << " vs " << want;
    }
    EXPECT_EQ(h.quantile(1), static_cast<double>(samples.back()));
    EXPECT_EQ(h.quantile(0), static_cast<double>(samples.front()));
  }
}

TEST(LogHistogram, WorstCaseIsFivePercent) {
  // The bottom of a wide bin is the farthest from its midpoint: exactly 5 %.
  LogHistogram h;
  h.record(1000);
  h.record(2000);
  EXPECT_EQ(h.quantile(0.5), 1050.0);
}

TEST(LogHistogram, MergeIsExact) {
  std::mt19937_64 rng(3);
  LogHistogram a, b, both;
  for (int i = 0; i < 50'000; ++i) {
    const std::uint64_t v = rng() >> (rng() % 60);
    (i % 3 == 0 ? a : b).record(v);
    both.record(v);
  }
  LogHistogram merged = a;
  merged.merge(b);
  EXPECT_EQ(merged.bins(), both.bins());
  EXPECT_EQ(merged.count(), both.count());
  EXPECT_EQ(merged.sum(), both.sum());
  EXPECT_EQ(merged.min(), both.min());
  EXPECT_EQ(merged.max(), both.max());
  for (const double q : {0.5, 0.9, 0.99}) EXPECT_EQ(merged.quantile(q), both.quantile(q));
  // Merging an empty one changes nothing; into an empty one copies.
  LogHistogram empty;
  merged.merge(empty);
  EXPECT_EQ(merged.bins(), both.bins());
  empty.merge(both);
  EXPECT_EQ(empty.min(), both.min());
  EXPECT_EQ(empty.count(), both.count());
}

TEST(LogHistogram, RepeatedRecordsAndBinsSetByAReader) {
  LogHistogram h;
  h.record(5, 3);
  h.record(123'456, 2);
  h.record(9, 0);  // nothing
  EXPECT_EQ(h.count(), 5u);
  EXPECT_EQ(h.sum(), 15u + 246'912u);
  LogHistogram copy;
  for (std::uint32_t i = 0; i < bins::kCount; ++i) copy.set_bin(i, h.bin(i));
  copy.set_summary(h.sum(), h.min(), h.max());
  EXPECT_EQ(copy.count(), 5u);
  EXPECT_EQ(copy.quantile(0.5), 5.0);
  EXPECT_EQ(copy.quantile(0.9), bins::estimate(bins::index(123'456)));
  EXPECT_EQ(LogHistogram{}.quantile(0.5), 0.0);
}

}  // namespace
