// gen_opportunities: dumps generated opportunities as JSON for the node.js peers.
//
//   gen_opportunities --count N --seed S > opportunities.json
//
// The output is the same data the C++ benchmarks evaluate (see opportunity_generator.h).
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "bench/common/opportunity_generator.h"

int main(int argc, char** argv) {
  int64_t count = 1000;
  uint64_t seed = 42;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--count" && has_value && absl::SimpleAtoi(argv[i + 1], &count) && count >= 0) {
      ++i;
    } else if (arg == "--seed" && has_value && absl::SimpleAtoi(argv[i + 1], &seed)) {
      ++i;
    } else {
      std::fprintf(stderr, "usage: gen_opportunities [--count N] [--seed S]\n");
      return 2;
    }
  }
  dealcoach::bench::OpportunityGenerator generator(seed);
  std::cout << dealcoach::bench::OpportunitiesToJson(generator.MakeMany(0, count), generator.now(),
                                                     seed);
  return std::cout.good() ? 0 : 1;
}
