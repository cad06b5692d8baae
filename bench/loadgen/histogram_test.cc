#include "bench/loadgen/histogram.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace dealcoach::bench {
namespace {

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram h;
  for (int v = 1; v <= 100; ++v) h.Record(v);
  EXPECT_EQ(h.count(), 100);
  EXPECT_EQ(h.ValueAtQuantile(0.5), 50);
  EXPECT_EQ(h.ValueAtQuantile(0.99), 99);
  EXPECT_EQ(h.ValueAtQuantile(1.0), 100);
  EXPECT_EQ(h.min(), 1);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(LatencyHistogramTest, LargeValuesWithinRelativeError) {
  for (uint64_t v : {1024ull, 1500ull, 123456ull, 98765432ull, 5000000000ull}) {
    const int index = LatencyHistogram::IndexOf(v);
    const uint64_t high = LatencyHistogram::HighestEquivalent(index);
    EXPECT_GE(high, v);
    EXPECT_LE(static_cast<double>(high - v), static_cast<double>(v) / 500.0) << v;
    // The next bucket starts right after this one.
    EXPECT_EQ(LatencyHistogram::IndexOf(high + 1), index + 1) << v;
  }
}

TEST(LatencyHistogramTest, IndexIsMonotonic) {
  int last = -1;
  for (uint64_t v = 0; v < 1u << 20; v += 7) {
    const int index = LatencyHistogram::IndexOf(v);
    ASSERT_GE(index, last);
    last = index;
  }
}

TEST(LatencyHistogramTest, PercentilesOfASkewedDistribution) {
  LatencyHistogram h;
  for (int i = 0; i < 990; ++i) h.Record(100000);   // 100 us
  for (int i = 0; i < 10; ++i) h.Record(50000000);  // 50 ms outliers
  EXPECT_NEAR(static_cast<double>(h.ValueAtQuantile(0.5)), 100000, 200);
  EXPECT_NEAR(static_cast<double>(h.ValueAtQuantile(0.99)), 100000, 200);
  EXPECT_NEAR(static_cast<double>(h.ValueAtQuantile(0.999)), 50000000, 100000);
  LatencyHistogram other;
  other.Record(7);
  h.Add(other);
  EXPECT_EQ(h.count(), 1001);
  EXPECT_EQ(h.min(), 7);
  EXPECT_EQ(h.max(), 50000000);
}

}  // namespace
}  // namespace dealcoach::bench
