// Deterministic generator of realistic opportunities, shared by every benchmark (engine
// micro-benchmarks, bulk evaluation, the gRPC load generator) and, through the
// gen_opportunities tool's JSON dump, by the node.js peers: all of them evaluate the
// same data.
//
// Opportunity i of seed s depends only on (s, i), never on what was generated before,
// so any thread can build any slice and two runs with the same seed are identical
// (the generator uses its own splitmix64 stream, not <random>'s distributions, whose
// output differs between standard libraries).
//
// The deals are spread over every customer-journey phase: contacts with buying roles,
// confirmed pain and last-met times, activities of every type, stage history, close
// date pushes, artifacts, competitors and the custom fields the shipped
// customer-journey playbook declares. About one field in six is left unset, as real
// CRMs leave methodology fields empty, so "unknown" paths are exercised too.
//
// Thread safety: OpportunityGenerator is immutable after construction; Make() is const
// and may be called from any number of threads.
#ifndef DEALCOACH_BENCH_COMMON_OPPORTUNITY_GENERATOR_H_
#define DEALCOACH_BENCH_COMMON_OPPORTUNITY_GENERATOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dealcoach/v1/opportunity.pb.h"

namespace dealcoach::bench {

// The fixed evaluation time every benchmark uses ("now" in expressions, `as_of` in
// requests), so that results never depend on the wall clock: 2025-06-02T00:00:00Z.
absl::Time BenchNow();

// Shape overrides; a negative value means "vary naturally with the phase".
struct Shape {
  int contacts = -1;
  int activities = -1;
};

class OpportunityGenerator {
 public:
  explicit OpportunityGenerator(uint64_t seed, absl::Time now = BenchNow());

  // Opportunity number `index` of this seed. Ids are "opp-<seed>-<index>".
  v1::Opportunity Make(int64_t index, const Shape& shape = {}) const;

  // Opportunities [first, first + count).
  std::vector<v1::Opportunity> MakeMany(int64_t first, int64_t count) const;

  absl::Time now() const { return now_; }
  uint64_t seed() const { return seed_; }

 private:
  uint64_t seed_;
  absl::Time now_;
};

// Serialises opportunities as the JSON the node peers read:
//   {"now": "<RFC 3339>", "seed": S, "opportunities": [<proto3 JSON>, ...]}
// with proto field names (snake_case, as playbooks spell them), one opportunity per line.
std::string OpportunitiesToJson(const std::vector<v1::Opportunity>& opportunities, absl::Time now,
                                uint64_t seed);

}  // namespace dealcoach::bench

#endif  // DEALCOACH_BENCH_COMMON_OPPORTUNITY_GENERATOR_H_
