// Human-readable rendering of guidance and checklists for a terminal: the deal card
// that `dealcoach eval` and `dealcoach demo` print. Plain text laid out for 80 columns;
// ANSI color only when asked (the CLI asks when stdout is a TTY).
//
// Thread safety: pure functions.
#ifndef DEALCOACH_SIDECAR_SERVER_RENDER_H_
#define DEALCOACH_SIDECAR_SERVER_RENDER_H_

#include <string>

#include "dealcoach/v1/guidance.pb.h"
#include "dealcoach/v1/opportunity.pb.h"

namespace dealcoach::server {

struct RenderOptions {
  // Emit ANSI colors. Default: off.
  bool color = false;
  // Line width text is wrapped to. Default: 80.
  int width = 80;
};

// The deal card. `opportunity` (may be null) adds the amount and account name, which
// DealGuidance does not carry.
std::string RenderGuidance(const v1::DealGuidance& guidance, const v1::Opportunity* opportunity,
                           const RenderOptions& options = {});

// A manager's review checklist.
std::string RenderChecklist(const v1::ReviewChecklist& checklist,
                            const RenderOptions& options = {});

// "EUR 120,000" / "USD 45,500.50"; "" when the amount is unset.
std::string FormatAmount(const v1::Opportunity& opportunity);

}  // namespace dealcoach::server

#endif  // DEALCOACH_SIDECAR_SERVER_RENDER_H_
