// The backtest: do a playbook's gates predict wins? Over closed deals, each deal is
// evaluated once, as of just before it closed where its stage history allows (see
// RewindToBeforeClose), and for every gate criterion, behavior, risk and indicator the
// win rate of the deals where it held is set against the deals where it did not (and
// where it was unknown), with counts, 95% Wilson intervals, the lift over the overall
// win rate, and a "signal" flag when the two intervals do not overlap. Rules with signal
// come first, then by the size of the difference, so the admin sees which rules carry
// signal and which are noise.
//
// Bias, stated in every answer (BacktestPlaybookResponse.bias): the CRM holds a deal's
// final values, not the values it had at each phase, so a criterion recorded at the end
// of a won deal looks predictive even if it was only filled in at signature. Only the
// stage, close-date history and activities are rewound.
//
// Thread safety: pure functions.
#ifndef DEALCOACH_SIDECAR_ADMIN_BACKTEST_H_
#define DEALCOACH_SIDECAR_ADMIN_BACKTEST_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "dealcoach/v1/playbook_service.pb.h"
#include "sidecar/engine/engine.h"

namespace dealcoach::admin {

// The 95% Wilson score interval of `won` of `deals` ({0, 0} for no deals).
[[nodiscard]] std::pair<double, double> WilsonInterval(int64_t won, int64_t deals);

// Turns a closed deal back into the open deal it was just before closing: when its stage
// history ends with the closing stage and has an earlier entry, the stage becomes that
// entry's, changes to the close date and activities after the close are dropped, and
// is_closed / is_won are cleared. Returns the as-of time, or InfinitePast when the
// history does not allow it (the deal is then only reopened, with its final values).
absl::Time RewindToBeforeClose(v1::Opportunity* opportunity);

// The backtest of `playbook` over `deals` ((id, serialized v1::Opportunity), as
// source::CacheSnapshot holds them; open deals are skipped). `now` is the evaluation
// time of deals that cannot be rewound. Fills everything but `valid` / `diagnostics`.
void Backtest(const engine::CompiledPlaybook& playbook,
              absl::Span<const std::pair<std::string, std::string>> deals, absl::Time now,
              v1::BacktestPlaybookResponse* out);

// The backtest as an admin reads it in a terminal (`dealcoach backtest`).
[[nodiscard]] std::string FormatBacktest(const v1::BacktestPlaybookResponse& backtest);

}  // namespace dealcoach::admin

#endif  // DEALCOACH_SIDECAR_ADMIN_BACKTEST_H_
