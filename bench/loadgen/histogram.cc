#include "bench/loadgen/histogram.h"

#include <algorithm>
#include <cmath>

namespace dealcoach::bench {
namespace {
constexpr uint64_t kSub = uint64_t{1} << 10;
constexpr uint64_t kHalf = kSub / 2;
}  // namespace

LatencyHistogram::LatencyHistogram()
    : counts_(static_cast<size_t>(IndexOf((uint64_t{1} << kMaxBits) - 1)) + 1, 0) {}

int LatencyHistogram::IndexOf(uint64_t value) {
  if (value < kSub) return static_cast<int>(value);
  const int msb = 63 - __builtin_clzll(value);
  const int shift = msb - (kSubBits - 1);  // >= 1; value >> shift is in [kHalf, kSub)
  return static_cast<int>(static_cast<uint64_t>(shift) * kHalf + (value >> shift));
}

uint64_t LatencyHistogram::HighestEquivalent(int index) {
  const uint64_t i = static_cast<uint64_t>(index);
  if (i < kSub) return i;
  const uint64_t shift = i / kHalf - 1;
  const uint64_t mantissa = i - shift * kHalf;
  return ((mantissa + 1) << shift) - 1;
}

void LatencyHistogram::Record(int64_t value_ns) {
  uint64_t v = value_ns < 0 ? 0 : static_cast<uint64_t>(value_ns);
  v = std::min(v, (uint64_t{1} << kMaxBits) - 1);
  ++counts_[static_cast<size_t>(IndexOf(v))];
  ++count_;
  sum_ += static_cast<int64_t>(v);
  min_ = std::min(min_, static_cast<int64_t>(v));
  max_ = std::max(max_, static_cast<int64_t>(v));
}

void LatencyHistogram::Add(const LatencyHistogram& other) {
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

int64_t LatencyHistogram::ValueAtQuantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // Rank of the sample at quantile q (1-based), as HdrHistogram computes it.
  const int64_t rank = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(q * count_)));
  int64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      return std::min<int64_t>(static_cast<int64_t>(HighestEquivalent(static_cast<int>(i))), max_);
    }
  }
  return max_;
}

}  // namespace dealcoach::bench
