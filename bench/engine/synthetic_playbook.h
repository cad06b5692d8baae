// Synthetic playbooks of a chosen size, for measuring how evaluation cost grows with the
// number of rules. The rules have the shapes the shipped playbooks use (collection
// counts, role membership, custom fields, timestamp arithmetic, history sizes), cycled
// with varying constants, and are laid out so that EVERY rule is evaluated for every
// opportunity: one phase (its exit gate is always evaluated, and it is always the
// evidence phase, so all its behaviors are considered) plus global risks.
//
// Thread safety: a pure function.
#ifndef DEALCOACH_BENCH_ENGINE_SYNTHETIC_PLAYBOOK_H_
#define DEALCOACH_BENCH_ENGINE_SYNTHETIC_PLAYBOOK_H_

#include <string>

namespace dealcoach::bench {

// YAML text of a playbook with `rules` rules: 40% exit-gate criteria, 40% behaviors,
// 20% risks (rounded; at least one criterion).
std::string SyntheticPlaybookYaml(int rules);

}  // namespace dealcoach::bench

#endif  // DEALCOACH_BENCH_ENGINE_SYNTHETIC_PLAYBOOK_H_
