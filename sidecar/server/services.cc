#include "sidecar/server/services.h"

#include <grpcpp/impl/codegen/server_callback_handlers.h>
#include <grpcpp/support/method_handler.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "sidecar/auth/grpc_credentials.h"
#include "sidecar/common/status_macros.h"
#include "sidecar/common/time_util.h"
#include "sidecar/engine/engine.h"
#include "sidecar/playbook_tests/playbook_tests.h"
#include "sidecar/runtime/log.h"
#include "sidecar/server/request_limits.h"
#include "sidecar/server/status.h"
#include "sidecar/server/team_scope.h"
#include "sidecar/server/tenants.h"

namespace dealcoach::server {
namespace {

google::protobuf::Timestamp ToProto(absl::Time t) { return ToProtoTimestamp(t); }

// First block of a callback call's response arena, on the handler's stack: a guidance
// answer of the shipped playbooks fits in it (larger ones continue on the heap).
constexpr size_t kResponseArenaBlock = 16 * 1024;

// Checked before expensive work and after every wait, so a caller that gave up is not
// served (and one whose deadline passed mid-fetch gets DEADLINE_EXCEEDED, not stale
// success).
absl::Status CheckCall(grpc::ServerContextBase* context, absl::string_view stage) {
  if (context->IsCancelled()) return absl::CancelledError(absl::StrCat("cancelled ", stage));
  if (context->deadline() < std::chrono::system_clock::now()) {
    return absl::DeadlineExceededError(absl::StrCat("deadline exceeded ", stage));
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Time> ResolveNow(const ServiceDeps& deps, bool has_as_of,
                                      const google::protobuf::Timestamp& as_of) {
  if (!has_as_of) return deps.now ? deps.now() : absl::Now();
  DC_RETURN_IF_ERROR(ValidateTimestamp(as_of, "as_of"));
  return ToAbslTime(as_of);
}

absl::StatusOr<int> ResolveMaxBehaviors(const ServiceDeps& deps, int requested) {
  if (requested < 0 || requested > kMaxBehaviorsLimit) {
    return absl::InvalidArgumentError(absl::StrCat("max_behaviors: must be between 0 and ",
                                                   kMaxBehaviorsLimit, ", got ", requested));
  }
  return requested == 0 ? deps.default_max_behaviors : requested;
}

// The playbook a request names ("" = default), or the error that says why not.
absl::StatusOr<std::shared_ptr<const engine::CompiledPlaybook>> ResolvePlaybook(
    const ServiceDeps& deps, absl::string_view name) {
  std::shared_ptr<const runtime::Snapshot> snapshot = deps.playbooks->Get();
  const runtime::PlaybookEntry* entry = snapshot->Find(name);
  if (entry == nullptr) {
    if (!snapshot->any_serving()) {
      return absl::FailedPreconditionError(
          "no valid playbook is loaded; see PlaybookService.GetActivePlaybook "
          "last_reload_diagnostics");
    }
    return absl::InvalidArgumentError(
        absl::StrCat("playbook: unknown playbook '", EchoValue(name),
                     "'; loaded: ", absl::StrJoin(snapshot->ServingNames(), ", ")));
  }
  if (entry->playbook == nullptr) {
    std::string why = entry->last_reload_diagnostics.empty()
                          ? std::string("it failed to load")
                          : engine::FormatDiagnostic(entry->last_reload_diagnostics.front());
    return absl::FailedPreconditionError(
        absl::StrCat("playbook '", entry->name().empty() ? entry->path : entry->name(),
                     "' has no valid version loaded: ", why));
  }
  return entry->playbook;
}

struct Target {
  std::shared_ptr<const v1::Opportunity> opportunity;
  v1::DataFreshness freshness;
};

// Id mode goes through the opportunity source; push mode normalizes a copy of the
// inline opportunity. With `would_block` set, an id the cache does not hold is not
// fetched: *would_block becomes true and the status says so (the callback handler then
// runs the call again on its pool, where a CRM fetch may block).
//
// With `owned` (the callback path: the handler owns the parsed request and it is not read
// again), the inline opportunity is normalized in place in it
// instead of copied, and the request limits skip the reflective walk when they can
// (ValidateInlineOpportunity); the Target then points into the request without owning
// it (valid while the request lives; the decision log gets the opportunity's wire bytes,
// not this message). Without it (the sync handlers) every step is as before: they are
// the reference the callback path is compared with (tests/integration/request_path_test.cc).
template <typename Request>
absl::StatusOr<Target> ResolveTarget(const ServiceDeps& deps, grpc::ServerContextBase* context,
                                     const Request& request, absl::Time now,
                                     bool* would_block = nullptr, Request* owned = nullptr) {
  Target t;
  switch (request.target_case()) {
    case Request::kOpportunity: {
      if (owned != nullptr) {
        DC_RETURN_IF_ERROR(ValidateInlineOpportunity(request.opportunity(), "opportunity"));
        v1::Opportunity* opp = owned->mutable_opportunity();
        engine::NormalizeOpportunityAsOf(opp, now);
        // Aliasing constructor with no owner: a pointer into the request, not a share.
        t.opportunity =
            std::shared_ptr<const v1::Opportunity>(std::shared_ptr<const v1::Opportunity>(), opp);
      } else {
        DC_RETURN_IF_ERROR(ValidateInlineOpportunityByWalk(request.opportunity(), "opportunity"));
        auto opp = std::make_shared<v1::Opportunity>(request.opportunity());
        engine::NormalizeOpportunityAsOf(opp.get(), now);
        t.opportunity = std::move(opp);
      }
      t.freshness.set_source("inline");
      *t.freshness.mutable_fetched_at() = ToProto(now);
      t.freshness.mutable_age();  // zero: the caller sent the data with the request
      return t;
    }
    case Request::kOpportunityId: {
      const std::string& id = request.opportunity_id();
      if (id.empty()) return absl::InvalidArgumentError("opportunity_id: must not be empty");
      if (deps.source == nullptr) {
        return absl::FailedPreconditionError(
            "opportunity_id: no connector is configured; send the opportunity inline");
      }
      absl::StatusOr<source::Lookup> lookup;
      if (would_block != nullptr) {
        std::optional<source::Lookup> cached = deps.source->GetCached(id);
        if (!cached.has_value()) {
          *would_block = true;
          return absl::UnavailableError("opportunity_id: not cached (fetch on the pool)");
        }
        lookup = *std::move(cached);
      } else {
        lookup = deps.source->Get(id, now);
      }
      DC_RETURN_IF_ERROR(
          CheckCall(context, absl::StrCat("while fetching opportunity '", EchoValue(id), "' from ",
                                          deps.source->connector_type())));
      if (absl::IsNotFound(lookup.status())) {
        return absl::NotFoundError(absl::StrCat("opportunity '", EchoValue(id), "' not found in ",
                                                deps.source->connector_type()));
      }
      if (!lookup.ok()) {
        return CrmFailure(lookup.status(), deps.source->connector_type(),
                          absl::StrCat("fetching opportunity '", EchoValue(id), "'"));
      }
      t.opportunity = std::move(lookup->opportunity);
      t.freshness = std::move(lookup->freshness);
      // A rep reads only the deals they own (checked before any evaluation, so a denied
      // caller learns nothing of the deal beyond that it is not theirs).
      if (const auth::Identity* caller = auth::CurrentIdentity();
          caller != nullptr && deps.authorizer != nullptr) {
        const v1::Owner& owner = t.opportunity->owner();
        DC_RETURN_IF_ERROR(
            deps.authorizer->AuthorizeDeal(*caller, owner.id(), owner.manager_id(), owner.team()));
      }
      return t;
    }
    case Request::TARGET_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("target: set opportunity_id or opportunity");
}

// An answer built on an arena references the playbook's constant sub-messages (see
// CompiledPlaybook::EvaluateInto), and it is serialized after the handler has let go of
// its playbook. A publish or reload in between would free them under the serializer:
// the arena holds a reference to the playbook until the answer's bytes are out.
void PinOnArena(const std::shared_ptr<const engine::CompiledPlaybook>& playbook,
                google::protobuf::Message* response) {
  google::protobuf::Arena* arena = response->GetArena();
  if (arena == nullptr) return;
  google::protobuf::Arena::Create<std::shared_ptr<const engine::CompiledPlaybook>>(arena, playbook);
}

absl::Status DoGetDealGuidance(const ServiceDeps& deps, grpc::ServerContextBase* context,
                               const v1::GetDealGuidanceRequest& request,
                               v1::GetDealGuidanceResponse* response,
                               std::shared_ptr<const v1::Opportunity>* evaluated = nullptr,
                               bool* would_block = nullptr,
                               v1::GetDealGuidanceRequest* owned = nullptr) {
  // `tenant` and `audience` are accepted and reserved (one tenant, one view today).
  DC_RETURN_IF_ERROR(CheckCall(context, "before evaluation"));
  if (request.target_case() == v1::GetDealGuidanceRequest::TARGET_NOT_SET) {
    return absl::InvalidArgumentError("target: set opportunity_id or opportunity");
  }
  DC_ASSIGN_OR_RETURN(int max_behaviors, ResolveMaxBehaviors(deps, request.max_behaviors()));
  DC_ASSIGN_OR_RETURN(absl::Time now, ResolveNow(deps, request.has_as_of(), request.as_of()));
  DC_ASSIGN_OR_RETURN(auto playbook, ResolvePlaybook(deps, request.playbook()));
  DC_ASSIGN_OR_RETURN(Target target,
                      ResolveTarget(deps, context, request, now, would_block, owned));
  engine::EvaluateOptions options;
  options.max_behaviors = max_behaviors;
  v1::DealGuidance* guidance = response->mutable_guidance();
  if (owned != nullptr) {
    // Built in place (on the response's arena, see Respond).
    PinOnArena(playbook, response);
    playbook->EvaluateInto(*target.opportunity, now, options, guidance);
  } else {
    *guidance = playbook->Evaluate(*target.opportunity, now, options);
  }
  *guidance->mutable_freshness() = std::move(target.freshness);
  if (evaluated != nullptr) *evaluated = std::move(target.opportunity);
  return absl::OkStatus();
}

absl::Status DoGetReviewChecklist(const ServiceDeps& deps, grpc::ServerContextBase* context,
                                  const v1::GetReviewChecklistRequest& request,
                                  v1::GetReviewChecklistResponse* response,
                                  std::shared_ptr<const v1::Opportunity>* evaluated = nullptr,
                                  bool* would_block = nullptr,
                                  v1::GetReviewChecklistRequest* owned = nullptr) {
  DC_RETURN_IF_ERROR(CheckCall(context, "before evaluation"));
  if (request.target_case() == v1::GetReviewChecklistRequest::TARGET_NOT_SET) {
    return absl::InvalidArgumentError("target: set opportunity_id or opportunity");
  }
  DC_ASSIGN_OR_RETURN(absl::Time now, ResolveNow(deps, request.has_as_of(), request.as_of()));
  DC_ASSIGN_OR_RETURN(auto playbook, ResolvePlaybook(deps, request.playbook()));
  DC_ASSIGN_OR_RETURN(Target target,
                      ResolveTarget(deps, context, request, now, would_block, owned));
  absl::StatusOr<v1::ReviewChecklist> checklist;
  if (owned != nullptr) {
    // Built in place (on the response's arena, see Respond).
    PinOnArena(playbook, response);
    absl::Status status = playbook->EvaluateChecklistInto(
        *target.opportunity, now, request.checklist(), response->mutable_checklist());
    if (status.ok()) {
      *response->mutable_checklist()->mutable_freshness() = std::move(target.freshness);
      if (evaluated != nullptr) *evaluated = std::move(target.opportunity);
      return absl::OkStatus();
    }
    response->clear_checklist();
    checklist = status;
  } else {
    checklist = playbook->EvaluateChecklist(*target.opportunity, now, request.checklist());
  }
  if (absl::IsNotFound(checklist.status())) {
    // The name came from the request, so it is the request that is wrong. A long name
    // would be echoed whole by the engine; say it ourselves, truncated.
    if (request.checklist().size() > kMaxEchoBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("checklist: no checklist '", EchoValue(request.checklist()), "'"));
    }
    return absl::InvalidArgumentError(absl::StrCat("checklist: ", checklist.status().message()));
  }
  if (!checklist.ok()) return checklist.status();
  *response->mutable_checklist() = *std::move(checklist);
  *response->mutable_checklist()->mutable_freshness() = std::move(target.freshness);
  if (evaluated != nullptr) *evaluated = std::move(target.opportunity);
  return absl::OkStatus();
}

// Pure: the playbook and its tests come inline; `file_name` is a label for diagnostics.
// No path is resolved and no file opened (see docs/api.md).
absl::Status DoValidatePlaybook(const v1::ValidatePlaybookRequest& request,
                                v1::ValidatePlaybookResponse* response) {
  if (request.yaml().empty()) return absl::InvalidArgumentError("yaml: must not be empty");
  const std::string file_name = request.file_name().empty() ? "playbook.yaml" : request.file_name();
  engine::LoadResult result = engine::LoadPlaybook(request.yaml(), file_name);
  response->set_valid(result.ok());
  for (v1::Diagnostic& d : result.diagnostics) *response->add_diagnostics() = std::move(d);
  *response->mutable_playbook() = result.ok() ? result.playbook->ref() : result.ref;
  if (request.run_tests() && result.ok()) {
    playbook_tests::TestsInput tests;
    tests.yaml = request.tests_yaml();
    tests.file_name = playbook_tests::SiblingTestFile(file_name);
    // No resolver: a test naming opportunity_file fails with a positioned message.
    DC_ASSIGN_OR_RETURN(std::vector<v1::PlaybookTestResult> results,
                        playbook_tests::RunPlaybookTests(*result.playbook, tests));
    for (v1::PlaybookTestResult& t : results) *response->add_test_results() = std::move(t);
  }
  return absl::OkStatus();
}

absl::Status DoGetActivePlaybook(const ServiceDeps& deps,
                                 const v1::GetActivePlaybookRequest& request,
                                 v1::GetActivePlaybookResponse* response) {
  std::shared_ptr<const runtime::Snapshot> snapshot = deps.playbooks->Get();
  const runtime::PlaybookEntry* entry = snapshot->Find(request.name());
  if (entry == nullptr) {
    std::vector<std::string> names;
    for (const runtime::PlaybookEntry& e : snapshot->entries()) names.push_back(e.name());
    return absl::NotFoundError(absl::StrCat("playbook '", EchoValue(request.name()),
                                            "' not found; loaded: ", absl::StrJoin(names, ", ")));
  }
  if (entry->playbook != nullptr) {
    *response->mutable_playbook() = entry->playbook->ref();
    *response->mutable_activated_at() = ToProto(entry->activated_at);
  }
  response->set_source_path(entry->path);
  for (const v1::Diagnostic& d : entry->last_reload_diagnostics) {
    *response->add_last_reload_diagnostics() = d;
  }
  if (entry->last_reload_attempt != absl::InfinitePast()) {
    *response->mutable_last_reload_attempt() = ToProto(entry->last_reload_attempt);
  }
  for (std::string& name : snapshot->ServingNames()) {
    response->add_available_playbooks(std::move(name));
  }
  if (entry->playbook != nullptr) {
    response->set_source(entry->source);
    response->set_store_revision(entry->store_revision);
  }
  return absl::OkStatus();
}

// Parses request bytes ourselves: gRPC's generated sync handlers answer undecodable
// bytes with INTERNAL and no message, which blames the server. Here they are
// INVALID_ARGUMENT naming the message type and the size. The size is already bounded by
// the server's max receive message size; nesting is bounded here.
// On the heap, not on the call's arena: measured (docs/performance.md), protobuf 3.21
// parses this request slower onto an arena (each string registers a cleanup) and the
// engine's sort of the stage history then copies arena elements instead of swapping.
// `merge`: into `request` as it is (it must hold nothing the bytes do not replace; see
// RequestSlot), instead of clearing it first.
template <typename Request>
absl::Status ParseRequestInto(grpc::ByteBuffer* bytes, Request* request, bool merge = false) {
  const size_t size = bytes->Length();
  bool ok = false;
  {
    grpc::ProtoBufferReader reader(bytes);
    google::protobuf::io::CodedInputStream coded(&reader);
    coded.SetRecursionLimit(kMaxRequestNesting);
    ok = (merge ? request->MergeFromCodedStream(&coded) : request->ParseFromCodedStream(&coded)) &&
         coded.ConsumedEntireMessage();
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request: not a valid ", Request::descriptor()->full_name(), " (", size, " bytes)"));
  }
  return absl::OkStatus();
}

template <typename Request>
absl::StatusOr<Request> ParseRequest(grpc::ByteBuffer* bytes) {
  Request request;
  DC_RETURN_IF_ERROR(ParseRequestInto(bytes, &request));
  return request;
}

// The top-level fields of the message serialized in `bytes`, scanned for field `number`
// (length-delimited): `*present` says whether it occurs, and when `out` is not null every
// occurrence's payload is appended to it exactly as received. Each other field is
// skipped by its length. False on malformed bytes.
bool ScanWireField(grpc::ByteBuffer* bytes, int number, std::string* out, bool* present) {
  using google::protobuf::internal::WireFormatLite;
  *present = false;
  grpc::ProtoBufferReader reader(bytes);
  google::protobuf::io::CodedInputStream coded(&reader);
  while (const uint32_t tag = coded.ReadTag()) {
    const bool match =
        WireFormatLite::GetTagFieldNumber(tag) == number &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    *present = *present || match;
    if (match && out != nullptr) {
      uint32_t length = 0;
      if (!coded.ReadVarint32(&length)) return false;
      const size_t at = out->size();
      out->resize(at + length);
      if (!coded.ReadRaw(out->data() + at, static_cast<int>(length))) return false;
    } else if (!WireFormatLite::SkipField(&coded, tag)) {
      return false;
    }
  }
  return coded.ConsumedEntireMessage();
}

// Whether the message serialized in `bytes` carries top-level field `number`
// (length-delimited) at least once.
bool HasWireField(grpc::ByteBuffer* bytes, int number) {
  bool present = false;
  return ScanWireField(bytes, number, nullptr, &present) && present;
}

// The payload of top-level field `number` (length-delimited) of the message serialized
// in `bytes`, exactly as received: every occurrence, concatenated (protobuf merges
// repeated occurrences of a message field, so the concatenation is what was parsed).
// This is what a pushed opportunity's input hash covers (docs/store.md, "What the input
// hash identifies"): the bytes are copied, not re-serialized from the parsed message.
// Called after ParseRequestInto accepted the same bytes, so a malformed field cannot
// occur; false if one does anyway.
bool WireFieldBytes(grpc::ByteBuffer* bytes, int number, std::string* out) {
  out->clear();
  bool present = false;
  return ScanWireField(bytes, number, out, &present);
}

// One call of a ParsingHandler: authenticate and authorize, read and parse the request,
// `method`, serialize and write the answer.
template <typename Request, typename Response>
grpc::Status ServeParsed(
    const std::function<grpc::Status(grpc::ServerContext*, const Request*, Response*)>& method,
    const auth::Authorizer* authorizer, store::DecisionLogger* decisions, const std::string& tenant,
    const TenantRegistry* tenants, const std::string& full_method, grpc::ServerContext* context,
    grpc::ServerUnaryStreamer<grpc::ByteBuffer, grpc::ByteBuffer>* stream) {
  absl::StatusOr<auth::Identity> caller =
      AuthorizeCall(authorizer, *context, full_method, decisions, tenant);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  auth::ScopedIdentity scope(authorizer != nullptr ? &*caller : nullptr);
  ScopedTenant tenant_scope(tenants, caller->tenant);
  grpc::ByteBuffer in;
  if (!stream->Read(&in)) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("request: no ", Request::descriptor()->full_name(), " received"));
  }
  absl::StatusOr<Request> request = ParseRequest<Request>(&in);
  if (!request.ok()) return ToGrpcStatus(request.status());
  if (authorizer != nullptr) {
    absl::Status named = CheckRequestTenant(*request, *caller, full_method);
    if (!named.ok()) return ToGrpcStatus(named);
  }
  Response response;
  grpc::Status status = method(context, &*request, &response);
  if (!status.ok()) return status;
  grpc::ByteBuffer out;
  bool own = false;
  status = grpc::SerializationTraits<Response>::Serialize(response, &out, &own);
  if (!status.ok()) return status;
  if (!stream->Write(out)) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "response: the call ended first");
  }
  return grpc::Status::OK;
}

// The method's series when metrics are on (ServiceDeps::metrics), else null. Resolved
// once per handler, so a call records without a label lookup; the metrics interceptor
// then leaves the method alone (metrics.h).
metrics::MethodMetrics* SeriesFor(const ServiceDeps& deps, const std::string& full_method) {
  return deps.metrics != nullptr ? deps.metrics->ForMethod(full_method) : nullptr;
}

// A sync handler over raw bytes: same thread pool and ServerContext as the generated
// one, but the request is parsed by ParseRequest. Registered through
// grpc::Service::MarkMethodStreamed (a "streamed unary" method is one read, one write,
// identical on the wire to a unary call).
//
// Every call is authenticated and authorized here, before its bytes are parsed: the
// method's name comes from the request type (each RPC has its own request message).
// Every call, denied ones included, is counted and timed here (ServiceDeps::metrics).
template <typename Request, typename Response>
grpc::internal::MethodHandler* ParsingHandler(
    const ServiceDeps& deps,
    std::function<grpc::Status(grpc::ServerContext*, const Request*, Response*)> method) {
  using Streamer = grpc::ServerUnaryStreamer<grpc::ByteBuffer, grpc::ByteBuffer>;
  static const std::string full_method = FullMethodOf(Request::descriptor());
  return new grpc::internal::StreamedUnaryHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
      [method = std::move(method), authorizer = deps.authorizer, decisions = deps.decision_log,
       tenant = deps.tenant, tenants = deps.tenants,
       series = SeriesFor(deps, full_method)](grpc::ServerContext* context, Streamer* stream) {
        const metrics::CallTimer timer(series);
        grpc::Status status = ServeParsed<Request, Response>(method, authorizer, decisions, tenant,
                                                             tenants, full_method, context, stream);
        timer.Finish(status.error_code());
        return status;
      });
}

// 32 hex digits: the time in microseconds, then 64 random bits (one generator per
// handler thread, so no lock). Time-ordered ids append to the end of the store's
// primary-key index instead of landing on random pages of an ever larger one.
std::string NewDecisionId(absl::Time at) {
  thread_local std::mt19937_64 gen(std::random_device{}());
  return absl::StrCat(absl::Hex(absl::ToUnixMicros(at), absl::kZeroPad16),
                      absl::Hex(gen(), absl::kZeroPad16));
}

// Queues one decision (never blocks: a full queue drops and counts). The store revision
// is the serving entry's when that entry still serves `ref`'s content (a reload may have
// landed since; the content hash in the answer then still names the version).
//
// The input hash is computed by the logger's writer thread, off the request path, from
// `input` (docs/store.md, "What the input hash identifies").
struct DecisionInput {
  // Push: the opportunity as received (its wire bytes).
  std::optional<std::string> bytes;
  // By id: the deal as the opportunity source holds it (normalized at ingestion), hashed
  // from its deterministic serialization, once per cached copy.
  std::shared_ptr<const v1::Opportunity> message;
};

void LogDecision(const ServiceDeps& deps, absl::string_view requested_name,
                 const v1::PlaybookRef& ref, const std::string& deal_id,
                 std::vector<std::string> fired, DecisionInput input, absl::Time start) {
  store::Decision d;
  d.tenant = deps.tenant;
  if (const auth::Identity* caller = auth::CurrentIdentity(); caller != nullptr) {
    d.caller = absl::StrCat(caller->via, ":", caller->subject);
  }
  d.deal_id = deal_id;
  d.playbook = ref.name();
  std::shared_ptr<const runtime::Snapshot> snapshot = deps.playbooks->Get();
  const runtime::PlaybookEntry* entry = snapshot->Find(requested_name);
  if (entry != nullptr && entry->playbook != nullptr &&
      entry->playbook->ref().revision() == ref.revision()) {
    d.revision = entry->store_revision;
  }
  d.fired_rule_ids = std::move(fired);
  d.input_bytes = std::move(input.bytes);
  d.input = std::move(input.message);
  const absl::Time end = absl::Now();
  d.decision_id = NewDecisionId(end);
  d.at = end;
  d.latency = end - start;
  deps.decision_log->Log(std::move(d));
}

// What a served call's decision hashes. Push: `wire` (the callback handlers copy the
// opportunity's bytes out of the request as received, WireFieldBytes); without them
// (the sync handlers, which keep the request's opportunity as parsed) the opportunity
// serialized deterministically, which equals the wire bytes of any sender that
// serializes canonically (docs/store.md). By id: the evaluated (cached) deal.
template <typename Request>
DecisionInput InputOf(const Request& request, std::optional<std::string>* wire,
                      std::shared_ptr<const v1::Opportunity> evaluated) {
  DecisionInput input;
  if (request.target_case() != Request::kOpportunity) {
    input.message = std::move(evaluated);
  } else if (wire != nullptr && wire->has_value()) {
    input.bytes = std::move(*wire);
  } else {
    std::string bytes;
    {
      google::protobuf::io::StringOutputStream out(&bytes);
      google::protobuf::io::CodedOutputStream coded(&out);
      coded.SetSerializationDeterministic(true);
      request.opportunity().SerializeToCodedStream(&coded);
    }
    input.bytes = std::move(bytes);
  }
  return input;
}

// GetDealGuidance as both handlers serve it: the answer, then its decision.
// `owned`: see ResolveTarget (the callback path; null for the sync handlers).
// `wire`: the inline opportunity's bytes as received, when the handler has them.
absl::Status ServeGuidance(const ServiceDeps& deps, grpc::ServerContextBase* context,
                           const v1::GetDealGuidanceRequest& request,
                           v1::GetDealGuidanceResponse* response, bool* would_block,
                           v1::GetDealGuidanceRequest* owned = nullptr,
                           std::optional<std::string>* wire = nullptr) {
  const absl::Time start = absl::Now();
  std::shared_ptr<const v1::Opportunity> evaluated;
  DC_RETURN_IF_ERROR(DoGetDealGuidance(deps, context, request, response,
                                       deps.decision_log != nullptr ? &evaluated : nullptr,
                                       would_block, owned));
  if (evaluated != nullptr) {
    const v1::DealGuidance& g = response->guidance();
    std::vector<std::string> fired;
    for (const v1::Behavior& b : g.next_best_behaviors()) fired.push_back(b.rule().id());
    for (const v1::Risk& r : g.risks()) fired.push_back(r.rule().id());
    LogDecision(deps, request.playbook(), g.playbook(), g.opportunity_id(), std::move(fired),
                InputOf(request, wire, std::move(evaluated)), start);
  }
  return absl::OkStatus();
}

// GetReviewChecklist as both handlers serve it.
absl::Status ServeChecklist(const ServiceDeps& deps, grpc::ServerContextBase* context,
                            const v1::GetReviewChecklistRequest& request,
                            v1::GetReviewChecklistResponse* response, bool* would_block,
                            v1::GetReviewChecklistRequest* owned = nullptr,
                            std::optional<std::string>* wire = nullptr) {
  const absl::Time start = absl::Now();
  std::shared_ptr<const v1::Opportunity> evaluated;
  DC_RETURN_IF_ERROR(DoGetReviewChecklist(deps, context, request, response,
                                          deps.decision_log != nullptr ? &evaluated : nullptr,
                                          would_block, owned));
  if (evaluated != nullptr) {
    const v1::ReviewChecklist& c = response->checklist();
    std::vector<std::string> fired;  // the items that hold
    for (const v1::ChecklistItem& item : c.items()) {
      if (item.status() == v1::CRITERION_STATUS_MET) fired.push_back(item.rule().id());
    }
    LogDecision(deps, request.playbook(), c.playbook(), c.opportunity_id(), std::move(fired),
                InputOf(request, wire, std::move(evaluated)), start);
  }
  return absl::OkStatus();
}

// Puts the entries of the opportunity's `fields` map (the schema's only map) in key
// order in `bytes` (an Opportunity's encoding as received), leaving every other byte as
// it came. Protobuf runtimes write a message's fields in field-number order but a map
// in any order (Go randomizes it on purpose, C++ follows its hash table), so without
// this the same deal sent twice could hash differently; with it, a sender that writes
// fields in number order gets exactly InputHash of the parsed opportunity (the
// deterministic serialization). The entries are moved to where the first one was.
// Cheap: a scan of the top-level fields, each skipped by its length; nothing is copied
// unless two or more entries are out of order.
void SortFieldsMapEntries(std::string* bytes) {
  using google::protobuf::internal::WireFormatLite;
  struct Entry {
    absl::string_view key;      // into *bytes
    size_t begin = 0, end = 0;  // the whole field: tag, length, payload
  };
  std::vector<Entry> entries;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes->data()),
                                            static_cast<int>(bytes->size()));
  while (true) {
    const size_t begin = static_cast<size_t>(in.CurrentPosition());
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    if (WireFormatLite::GetTagFieldNumber(tag) != v1::Opportunity::kFieldsFieldNumber ||
        WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!WireFormatLite::SkipField(&in, tag)) return;
      continue;
    }
    uint32_t length = 0;
    if (!in.ReadVarint32(&length)) return;
    const size_t payload = static_cast<size_t>(in.CurrentPosition());
    if (!in.Skip(static_cast<int>(length))) return;
    Entry e;
    e.begin = begin;
    e.end = static_cast<size_t>(in.CurrentPosition());
    // The key is the entry's field 1 (the last one, as the parser keeps); none = "".
    google::protobuf::io::CodedInputStream entry(
        reinterpret_cast<const uint8_t*>(bytes->data() + payload), static_cast<int>(length));
    while (const uint32_t t = entry.ReadTag()) {
      if (t == WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_LENGTH_DELIMITED)) {
        uint32_t key_length = 0;
        if (!entry.ReadVarint32(&key_length)) return;
        const size_t key_at = payload + static_cast<size_t>(entry.CurrentPosition());
        if (!entry.Skip(static_cast<int>(key_length))) return;
        e.key = absl::string_view(bytes->data() + key_at, key_length);
      } else if (!WireFormatLite::SkipField(&entry, t)) {
        return;
      }
    }
    entries.push_back(std::move(e));
  }
  auto by_key = [](const Entry& a, const Entry& b) { return a.key < b.key; };
  if (entries.size() < 2 || std::is_sorted(entries.begin(), entries.end(), by_key)) return;
  const size_t first = entries.front().begin;  // in wire order, before sorting
  std::vector<Entry> sorted = entries;
  std::stable_sort(sorted.begin(), sorted.end(), by_key);
  std::string out;
  out.reserve(bytes->size());
  size_t at = 0;
  for (const Entry& e : entries) {  // wire order: copy what lies between the entries
    out.append(*bytes, at, e.begin - at);
    if (e.begin == first) {
      for (const Entry& s : sorted) out.append(*bytes, s.begin, s.end - s.begin);
    }
    at = e.end;
  }
  out.append(*bytes, at, std::string::npos);
  *bytes = std::move(out);
}

// A call's response arena, its first block on the caller's stack frame: the answer's
// messages cost no malloc and no free each (the strings' characters still do in
// protobuf 3.21), and the arena goes in one step when the bytes are out.
class StackArena {
 public:
  StackArena() : arena_(Options(first_block_)) {}
  StackArena(const StackArena&) = delete;
  StackArena& operator=(const StackArena&) = delete;
  google::protobuf::Arena* get() { return &arena_; }

 private:
  static google::protobuf::ArenaOptions Options(char* block) {
    google::protobuf::ArenaOptions options;
    options.initial_block = block;
    options.initial_block_size = kResponseArenaBlock;
    return options;
  }
  alignas(16) char first_block_[kResponseArenaBlock];
  google::protobuf::Arena arena_;  // after the block it starts in
};

// The callback handlers' request message, one per thread and request type, reused call
// after call, with the inline opportunity kept apart between calls. Clear() keeps a
// repeated field's elements and a string's capacity, so a pushed deal parsed into the
// last one's cleared Opportunity reuses its activities, contacts and strings instead of
// allocating them, and the call frees nothing at its end (the pushed deal's parse and
// destruction were over 40% of the handler's instructions, docs/performance.md).
// The Opportunity is a `target` oneof member, which Clear() and a parsed
// `opportunity_id` delete, so the slot takes it out of the request after each call and
// puts it back, empty, before the next parse (Parse merges into it exactly as into a
// new one; see Finish for a request that names no target).
//
// Requests larger than kMaxReusedRequestBytes get a message of their own, so a thread
// keeps at most what one request of that size left behind; so does a call that finds
// the thread's message in use (should gRPC ever run a handler inline inside another).
constexpr size_t kMaxReusedRequestBytes = 64 * 1024;

template <typename Request>
class RequestSlot {
 public:
  explicit RequestSlot(size_t size) {
    Reused& reused = ThreadReused();
    if (size > kMaxReusedRequestBytes || reused.in_use) {
      own_ = std::make_unique<Request>();
      request_ = own_.get();
      return;
    }
    reused.in_use = true;
    request_ = &reused.message;
    request_->Clear();  // its target is unset: the last call's slot took the deal out
    if (reused.spare != nullptr) {
      reused.spare->Clear();
      preset_ = reused.spare.get();
      request_->set_allocated_opportunity(reused.spare.release());
    }
  }
  RequestSlot(const RequestSlot&) = delete;
  RequestSlot& operator=(const RequestSlot&) = delete;
  ~RequestSlot() {
    if (own_ != nullptr) return;
    Reused& reused = ThreadReused();
    if (request_->target_case() == Request::kOpportunity) {
      reused.spare.reset(request_->release_opportunity());
    }
    reused.in_use = false;
  }

  // The message to parse into: merge, do not clear (Clear would delete the Opportunity).
  Request* get() { return request_; }

  // After a successful parse of `bytes`: the preset Opportunity stands for a target
  // the bytes name only if they carry the `opportunity` field (an empty one included);
  // otherwise the request names no target, or the parser has already replaced it.
  void Finish(grpc::ByteBuffer* bytes) {
    if (preset_ == nullptr || request_->target_case() != Request::kOpportunity ||
        &request_->opportunity() != preset_ ||
        HasWireField(bytes, Request::kOpportunityFieldNumber)) {
      return;
    }
    ThreadReused().spare.reset(request_->release_opportunity());
  }

 private:
  struct Reused {
    Request message;
    std::unique_ptr<v1::Opportunity> spare;  // the last call's Opportunity, between calls
    bool in_use = false;
  };
  static Reused& ThreadReused() {
    thread_local Reused reused;
    return reused;
  }
  Request* request_ = nullptr;
  const v1::Opportunity* preset_ = nullptr;  // put in the request before the parse
  std::unique_ptr<Request> own_;
};

// The serve function of a callback handler: the answer into `response` and its decision
// (see ServeGuidance for `would_block` and `wire`).
template <typename Request, typename Response>
using CallbackServe = std::function<absl::Status(grpc::ServerContextBase*, Request*, Response*,
                                                 bool*, std::optional<std::string>*)>;

// One call's answer as bytes: `serve`, then the response serialized into `out`, as
// ParsingHandler serializes it. Nothing is written when `*would_block` comes back true.
// The response is built on `arena`.
template <typename Request, typename Response>
grpc::Status Respond(const CallbackServe<Request, Response>& serve,
                     grpc::ServerContextBase* context, Request* request,
                     std::optional<std::string>* wire, google::protobuf::Arena* arena,
                     grpc::ByteBuffer* out, bool* would_block) {
  Response* response = google::protobuf::Arena::CreateMessage<Response>(arena);
  absl::Status status = serve(context, request, response, would_block, wire);
  if (would_block != nullptr && *would_block) return grpc::Status::OK;
  if (!status.ok()) return ToGrpcStatus(status);
  bool own = false;
  return grpc::SerializationTraits<Response>::Serialize(*response, out, &own);
}

// A unary handler on gRPC's callback API: the call is served on the gRPC thread that
// read it (as the default Health service is), with no hand-off to a sync-server worker,
// through the same steps as ParsingHandler: authenticate and authorize (before the
// bytes are parsed), ParseRequest (INVALID_ARGUMENT for bad bytes, nesting bounded),
// the same serve function (answer + decision log), the same serialization, and the same
// metrics (counted and timed here, as ParsingHandler does). `serve` is first run with
// `would_block` set, so that an id the cache does not hold is not fetched on a gRPC
// thread; such a call runs again on `pool`, where the CRM fetch may block.
//
// With the decision log on, a pushed opportunity's bytes as received are copied out of
// the request for its input hash (WireFieldBytes), so the writer does not re-serialize.
template <typename Request, typename Response>
grpc::internal::MethodHandler* CallbackHandler(const ServiceDeps& deps, HandoffPool* pool,
                                               CallbackServe<Request, Response> serve) {
  static const std::string full_method = FullMethodOf(Request::descriptor());
  return new grpc::internal::CallbackUnaryHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
      [serve = std::move(serve), pool, authorizer = deps.authorizer, decisions = deps.decision_log,
       tenant = deps.tenant, tenants = deps.tenants, series = SeriesFor(deps, full_method)](
          grpc::CallbackServerContext* context, const grpc::ByteBuffer* in,
          grpc::ByteBuffer* out) -> grpc::ServerUnaryReactor* {
        grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
        // Counted before Finish sends the status (CallTimer), on whichever path ends it.
        const metrics::CallTimer timer(series);
        auto finish = [reactor, timer](const grpc::Status& status) {
          timer.Finish(status.error_code());
          reactor->Finish(status);
        };
        absl::StatusOr<auth::Identity> caller =
            AuthorizeCall(authorizer, *context, full_method, decisions, tenant);
        if (!caller.ok()) {
          finish(ToGrpcStatus(caller.status()));
          return reactor;
        }
        grpc::ByteBuffer bytes(*in);  // shares the slices; the reader needs a mutable one
        RequestSlot<Request> slot(bytes.Length());
        Request* request = slot.get();
        if (absl::Status parsed = ParseRequestInto(&bytes, request, /*merge=*/true); !parsed.ok()) {
          finish(ToGrpcStatus(parsed));
          return reactor;
        }
        slot.Finish(&bytes);
        if (authorizer != nullptr) {
          if (absl::Status named = CheckRequestTenant(*request, *caller, full_method);
              !named.ok()) {
            finish(ToGrpcStatus(named));
            return reactor;
          }
        }
        std::optional<std::string> wire;
        if (decisions != nullptr && request->target_case() == Request::kOpportunity) {
          // Cannot fail on bytes ParseRequestInto accepted; if it did, the decision's
          // hash falls back to the parsed opportunity (InputOf).
          if (std::string copied;
              WireFieldBytes(&bytes, Request::kOpportunityFieldNumber, &copied)) {
            SortFieldsMapEntries(&copied);
            wire = std::move(copied);
          }
        }
        bool would_block = false;
        grpc::Status status;
        {
          auth::ScopedIdentity scope(authorizer != nullptr ? &*caller : nullptr);
          ScopedTenant tenant_scope(tenants, caller->tenant);
          StackArena arena;
          status = Respond<Request, Response>(serve, context, request, &wire, arena.get(), out,
                                              &would_block);
        }
        if (!would_block) {
          finish(status);
          return reactor;
        }
        // The slot's message is this thread's: the pool gets its own (a call by id, which
        // carries no deal, so the copy is small).
        auto call = std::make_shared<std::pair<auth::Identity, Request>>(*std::move(caller),
                                                                         std::move(*request));
        pool->Run(
            [serve, call, context, out, finish, with_identity = authorizer != nullptr, tenants]() {
              auth::ScopedIdentity scope(with_identity ? &call->first : nullptr);
              ScopedTenant tenant_scope(tenants, call->first.tenant);
              StackArena arena;
              finish(Respond<Request, Response>(serve, context, &call->second, nullptr, arena.get(),
                                                out, nullptr));
            });
        return reactor;
      });
}

}  // namespace

HandoffPool::HandoffPool(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this]() { Loop(); });
}

HandoffPool::~HandoffPool() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void HandoffPool::Run(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(task));
}

void HandoffPool::Loop() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](HandoffPool* p)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) { return p->stop_ || !p->queue_.empty(); },
          this));
      if (queue_.empty()) return;  // stopping, and nothing left to run
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

absl::StatusOr<std::shared_ptr<const engine::CompiledPlaybook>> ResolveRequestPlaybook(
    const ServiceDeps& deps, absl::string_view name) {
  return ResolvePlaybook(deps, name);
}

absl::StatusOr<absl::Time> ResolveRequestNow(const ServiceDeps& deps, bool has_as_of,
                                             const google::protobuf::Timestamp& as_of) {
  return ResolveNow(deps, has_as_of, as_of);
}

absl::Status CheckCallAlive(grpc::ServerContextBase* context, absl::string_view stage) {
  return CheckCall(context, stage);
}

std::string FullMethodOf(const google::protobuf::Descriptor* request) {
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const char* service : {"dealcoach.v1.CoachingService", "dealcoach.v1.PlaybookService",
                              "dealcoach.v1.AdminService"}) {
    const google::protobuf::ServiceDescriptor* s = pool->FindServiceByName(service);
    if (s == nullptr) continue;
    for (int i = 0; i < s->method_count(); ++i) {
      if (s->method(i)->input_type() == request) {
        return absl::StrCat("/", s->full_name(), "/", s->method(i)->name());
      }
    }
  }
  return absl::StrCat("/", request->full_name());
}

absl::StatusOr<auth::Identity> AuthorizeCall(const auth::Authorizer* authorizer,
                                             const grpc::ServerContextBase& context,
                                             absl::string_view full_method,
                                             store::DecisionLogger* decisions,
                                             absl::string_view tenant) {
  if (authorizer == nullptr) {
    auth::Identity anonymous;
    anonymous.subject = "anonymous";
    anonymous.role = auth::Role::kAdmin;
    anonymous.via = "anonymous";
    return anonymous;
  }
  const auth::CallCredentials credentials = auth::CredentialsFromGrpc(context);
  absl::StatusOr<auth::Identity> identity = authorizer->Authenticate(credentials);
  absl::Status status =
      identity.ok() ? authorizer->Authorize(*identity, full_method) : identity.status();
  if (status.ok()) return identity;
  if (decisions != nullptr) {
    store::Decision d;
    // A denial of a caller of another tenant served here goes to that tenant's log, so
    // no tenant's decisions name another's callers.
    d.tenant = identity.ok() && authorizer->ServesTenant(identity->tenant) ? identity->tenant
                                                                           : std::string(tenant);
    d.at = absl::Now();
    d.decision_id = NewDecisionId(d.at);
    d.caller =
        identity.ok() ? absl::StrCat(identity->via, ":", identity->subject) : "unauthenticated";
    d.fired_rule_ids = {"authz.denied", std::string(full_method)};
    decisions->Log(std::move(d));
  }
  return status;
}

// Method indices are the rpc order in the .proto files (the generated
// WithStreamedUnaryMethod_* classes use the same numbers); the integration test
// request_hardening_test calls every method over the wire with valid and invalid bytes.
CoachingServiceImpl::CoachingServiceImpl(ServiceDeps deps) : deps_(std::move(deps)) {
  if (deps_.callback_handlers) {
    // Cache misses only; a sync server would run them on its own pool.
    pool_ = std::make_unique<HandoffPool>(kHandoffThreads);
    MarkMethodRawCallback(0,
                          CallbackHandler<v1::GetDealGuidanceRequest, v1::GetDealGuidanceResponse>(
                              deps_, pool_.get(),
                              [this](grpc::ServerContextBase* c, v1::GetDealGuidanceRequest* q,
                                     v1::GetDealGuidanceResponse* r, bool* would_block,
                                     std::optional<std::string>* wire) {
                                return ServeGuidance(Deps(), c, *q, r, would_block, q, wire);
                              }));
    MarkMethodRawCallback(
        1, CallbackHandler<v1::GetReviewChecklistRequest, v1::GetReviewChecklistResponse>(
               deps_, pool_.get(),
               [this](grpc::ServerContextBase* c, v1::GetReviewChecklistRequest* q,
                      v1::GetReviewChecklistResponse* r, bool* would_block,
                      std::optional<std::string>* wire) {
                 return ServeChecklist(Deps(), c, *q, r, would_block, q, wire);
               }));
  } else {
    MarkMethodStreamed(
        0, ParsingHandler<v1::GetDealGuidanceRequest, v1::GetDealGuidanceResponse>(
               deps_, [this](grpc::ServerContext* c, const v1::GetDealGuidanceRequest* q,
                             v1::GetDealGuidanceResponse* r) { return GetDealGuidance(c, q, r); }));
    MarkMethodStreamed(
        1, ParsingHandler<v1::GetReviewChecklistRequest, v1::GetReviewChecklistResponse>(
               deps_,
               [this](grpc::ServerContext* c, const v1::GetReviewChecklistRequest* q,
                      v1::GetReviewChecklistResponse* r) { return GetReviewChecklist(c, q, r); }));
  }
  // 2: EvaluatePipeline, server streaming (the generated handler). 3-5 scan the cache or
  // write the store: sync handlers on the server's pool.
  MarkMethodStreamed(
      3,
      ParsingHandler<v1::GetPipelineReviewRequest, v1::GetPipelineReviewResponse>(
          deps_, [this](grpc::ServerContext* c, const v1::GetPipelineReviewRequest* q,
                        v1::GetPipelineReviewResponse* r) { return GetPipelineReview(c, q, r); }));
  MarkMethodStreamed(
      4,
      ParsingHandler<v1::GetCoachingAgendaRequest, v1::GetCoachingAgendaResponse>(
          deps_, [this](grpc::ServerContext* c, const v1::GetCoachingAgendaRequest* q,
                        v1::GetCoachingAgendaResponse* r) { return GetCoachingAgenda(c, q, r); }));
  MarkMethodStreamed(
      5, ParsingHandler<v1::TakeSnapshotRequest, v1::TakeSnapshotResponse>(
             deps_, [this](grpc::ServerContext* c, const v1::TakeSnapshotRequest* q,
                           v1::TakeSnapshotResponse* r) { return TakeSnapshot(c, q, r); }));
}

CoachingServiceImpl::~CoachingServiceImpl() = default;

grpc::Status CoachingServiceImpl::GetDealGuidance(grpc::ServerContext* context,
                                                  const v1::GetDealGuidanceRequest* request,
                                                  v1::GetDealGuidanceResponse* response) {
  return ToGrpcStatus(ServeGuidance(Deps(), context, *request, response, nullptr));
}

grpc::Status CoachingServiceImpl::GetReviewChecklist(grpc::ServerContext* context,
                                                     const v1::GetReviewChecklistRequest* request,
                                                     v1::GetReviewChecklistResponse* response) {
  return ToGrpcStatus(ServeChecklist(Deps(), context, *request, response, nullptr));
}

// Registers method `index` (the rpc's position in the .proto) with ParsingHandler.
template <typename Mark, typename Service, typename Request, typename Response>
void MarkParsed(const Mark& mark, const ServiceDeps& deps, int index, Service* service,
                grpc::Status (Service::*method)(grpc::ServerContext*, const Request*, Response*)) {
  mark(index, ParsingHandler<Request, Response>(
                  deps, [service, method](grpc::ServerContext* c, const Request* q, Response* r) {
                    return (service->*method)(c, q, r);
                  }));
}

PlaybookServiceImpl::PlaybookServiceImpl(ServiceDeps deps) : deps_(std::move(deps)) {
  admin::AdminOptions options;
  options.store = deps_.store;
  options.tenant = deps_.tenant;
  options.source = deps_.source;
  options.playbooks = deps_.playbooks;
  options.plan_max_age = deps_.plan_max_age;
  options.now = deps_.now;
  admin_ = std::make_unique<admin::PlaybookAdmin>(std::move(options));
  // Indices follow the rpc order in playbook_service.proto.
  using S = PlaybookServiceImpl;
  auto mark = [this](int index, grpc::internal::MethodHandler* handler) {
    MarkMethodStreamed(index, handler);
  };
  MarkParsed(mark, deps_, 0, this, &S::ValidatePlaybook);
  MarkParsed(mark, deps_, 1, this, &S::GetActivePlaybook);
  MarkParsed(mark, deps_, 2, this, &S::PlanPlaybookChange);
  MarkParsed(mark, deps_, 3, this, &S::PublishPlaybook);
  MarkParsed(mark, deps_, 4, this, &S::ListPlaybookRevisions);
  MarkParsed(mark, deps_, 5, this, &S::GetPlaybookRevision);
  MarkParsed(mark, deps_, 6, this, &S::RollbackPlaybook);
  MarkParsed(mark, deps_, 7, this, &S::ListAuditEvents);
  MarkParsed(mark, deps_, 8, this, &S::ListDecisions);
  MarkParsed(mark, deps_, 9, this, &S::BacktestPlaybook);
}

admin::PlaybookAdmin& PlaybookServiceImpl::Admin() const {
  const TenantRuntime* tenant = CurrentTenant();
  return tenant != nullptr ? *tenant->admin : *admin_;
}

grpc::Status PlaybookServiceImpl::ValidatePlaybook(grpc::ServerContext* context,
                                                   const v1::ValidatePlaybookRequest* request,
                                                   v1::ValidatePlaybookResponse* response) {
  absl::Status status = DoValidatePlaybook(*request, response);
  if (status.ok()) {
    absl::Status audited = Admin().AuditValidate(request->author(), *response);
    if (!audited.ok())
      runtime::LogWarning("audit of ValidatePlaybook failed: ", audited.ToString());
  }
  return ToGrpcStatus(status);
}

grpc::Status PlaybookServiceImpl::GetActivePlaybook(grpc::ServerContext* context,
                                                    const v1::GetActivePlaybookRequest* request,
                                                    v1::GetActivePlaybookResponse* response) {
  return ToGrpcStatus(DoGetActivePlaybook(Deps(), *request, response));
}

namespace {

// One admin call: the lifecycle method's answer, or its status.
template <typename Response>
grpc::Status Answer(absl::StatusOr<Response> result, Response* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status PlaybookServiceImpl::PlanPlaybookChange(grpc::ServerContext* context,
                                                     const v1::PlanPlaybookChangeRequest* request,
                                                     v1::PlanPlaybookChangeResponse* response) {
  return Answer(Admin().Plan(*request), response);
}

grpc::Status PlaybookServiceImpl::PublishPlaybook(grpc::ServerContext* context,
                                                  const v1::PublishPlaybookRequest* request,
                                                  v1::PublishPlaybookResponse* response) {
  return Answer(Admin().Publish(*request), response);
}

grpc::Status PlaybookServiceImpl::ListPlaybookRevisions(
    grpc::ServerContext* context, const v1::ListPlaybookRevisionsRequest* request,
    v1::ListPlaybookRevisionsResponse* response) {
  return Answer(Admin().ListRevisions(*request), response);
}

grpc::Status PlaybookServiceImpl::GetPlaybookRevision(grpc::ServerContext* context,
                                                      const v1::GetPlaybookRevisionRequest* request,
                                                      v1::GetPlaybookRevisionResponse* response) {
  return Answer(Admin().GetRevision(*request), response);
}

grpc::Status PlaybookServiceImpl::RollbackPlaybook(grpc::ServerContext* context,
                                                   const v1::RollbackPlaybookRequest* request,
                                                   v1::RollbackPlaybookResponse* response) {
  return Answer(Admin().Rollback(*request), response);
}

grpc::Status PlaybookServiceImpl::ListAuditEvents(grpc::ServerContext* context,
                                                  const v1::ListAuditEventsRequest* request,
                                                  v1::ListAuditEventsResponse* response) {
  return Answer(Admin().ListAudit(*request), response);
}

grpc::Status PlaybookServiceImpl::ListDecisions(grpc::ServerContext* context,
                                                const v1::ListDecisionsRequest* request,
                                                v1::ListDecisionsResponse* response) {
  if (absl::Status team = AuthorizeDecisionQuery(Deps(), request->opportunity_id()); !team.ok()) {
    return ToGrpcStatus(team);
  }
  return Answer(Admin().ListDecisions(*request), response);
}

grpc::Status PlaybookServiceImpl::BacktestPlaybook(grpc::ServerContext* context,
                                                   const v1::BacktestPlaybookRequest* request,
                                                   v1::BacktestPlaybookResponse* response) {
  return Answer(Admin().Backtest(*request), response);
}

}  // namespace dealcoach::server
