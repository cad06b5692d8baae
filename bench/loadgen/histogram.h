// A log-linear latency histogram in the style of HdrHistogram: values below 2^kSubBits
// are counted exactly, larger ones in buckets whose width is at most 1/2^(kSubBits-1) of
// their value (here 0.2%), so any percentile is reported within 0.2% without storing
// samples. Values are nanoseconds; anything above ~18 minutes is clamped.
//
// Thread safety: thread-compatible (one writer; merge histograms from several threads
// with Add()).
#ifndef DEALCOACH_BENCH_LOADGEN_HISTOGRAM_H_
#define DEALCOACH_BENCH_LOADGEN_HISTOGRAM_H_

#include <cstdint>
#include <vector>

namespace dealcoach::bench {

class LatencyHistogram {
 public:
  LatencyHistogram();

  // Records one value (nanoseconds); negative values count as 0.
  void Record(int64_t value_ns);
  // Adds every count of `other`.
  void Add(const LatencyHistogram& other);

  int64_t count() const { return count_; }
  int64_t min() const { return count_ == 0 ? 0 : min_; }
  int64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_; }
  // The value at quantile q in [0, 1] (highest value equivalent to the bucket holding
  // it, as HdrHistogram reports), capped at max(). 0 when empty.
  int64_t ValueAtQuantile(double q) const;

  // Bucket index of a value and the highest value of a bucket; exposed for tests.
  static int IndexOf(uint64_t value);
  static uint64_t HighestEquivalent(int index);

 private:
  static constexpr int kSubBits = 10;
  static constexpr int kMaxBits = 40;  // 2^40 ns ~ 18 minutes

  std::vector<int64_t> counts_;
  int64_t count_ = 0;
  int64_t min_ = INT64_MAX;
  int64_t max_ = 0;
  int64_t sum_ = 0;
};

}  // namespace dealcoach::bench

#endif  // DEALCOACH_BENCH_LOADGEN_HISTOGRAM_H_
