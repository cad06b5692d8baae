// Terminal rendering of the manager's tools: the pipeline review (`dealcoach review`)
// and the 1:1 coaching agenda (`dealcoach agenda`, the end of `dealcoach demo`). Plain
// text for 80 columns; the agenda fits one screen.
//
// Thread safety: pure functions.
#ifndef DEALCOACH_SIDECAR_SERVER_RENDER_PIPELINE_H_
#define DEALCOACH_SIDECAR_SERVER_RENDER_PIPELINE_H_

#include <string>

#include "dealcoach/v1/pipeline.pb.h"
#include "sidecar/server/render.h"

namespace dealcoach::server {

// The review: ranked deals (at most `max_rows`), closed since, per-rep roll-ups and the
// scope's leading indicators.
std::string RenderPipelineReview(const v1::GetPipelineReviewResponse& review,
                                 const RenderOptions& options = {}, int max_rows = 10);

// The 1:1 agenda.
std::string RenderCoachingAgenda(const v1::GetCoachingAgendaResponse& agenda,
                                 const RenderOptions& options = {});

// "pushed out", "won", ... for a change kind.
std::string ChangeKindLabel(v1::ChangeKind kind);

}  // namespace dealcoach::server

#endif  // DEALCOACH_SIDECAR_SERVER_RENDER_PIPELINE_H_
