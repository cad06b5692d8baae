// JWT verification per call against the whole GetDealGuidance call (issue 15: verifying
// a cached token is under 5% of the call's CPU).
//
//   BM_AuthenticateCachedJwt      Authorizer::Authenticate of a bearer RS256 token whose
//                                 verification is cached (by hash, until exp): what every
//                                 call of a caller pays after its first
//   BM_AuthenticateUncachedJwt    the same with a new token each time (the first call of
//                                 a token: an RSA signature check), for scale
//   BM_GetDealGuidance/auth:0|1   the whole call by id (cached deal) to a real sidecar on
//                                 loopback, auth off / auth required with the token
//
//   BM_GetDealGuidance/.../metrics:1  the same call with RPC metrics on (admin_http.listen)
//
// And the metrics' own cost per call (issue 15: metrics on vs off within 3%):
//   BM_RecordCallInHandler        what the service's handler wrappers do per call: a
//                                 CallTimer over a pre-resolved MethodMetrics (two clock
//                                 reads, one counter increment, one histogram observation)
//   BM_RecordCallByLookup         the interceptor's recording of a method name (reader
//                                 lock + pointer lookup, then the same increments), which
//                                 is what every call paid before, plus the interceptor
//
// One caller, synchronous calls; BM_GetDealGuidance reports the process's CPU per call
// (caller and sidecar threads, not the waits). The shares (bench/loadgen/production_pair.sh
// prints them) are BM_AuthenticateCachedJwt's and BM_RecordCallInHandler's CPU time over
// BM_GetDealGuidance's process_cpu_us_per_call; the differences auth:1 - auth:0 and
// metrics:1 - metrics:0 are printed too (everything each adds, noisier). Like the
// dealcoach binary, the process runs with absl's deadlock detection off (main below).
#include <benchmark/benchmark.h>
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "sidecar/auth/authorizer.h"
#include "sidecar/auth/jwt_test_util.h"
#include "sidecar/metrics/metrics.h"
#include "sidecar/server/config.h"
#include "sidecar/server/sidecar.h"

namespace dealcoach::bench {
namespace {

namespace tk = auth::test_keys;

struct Keys {
  std::unique_ptr<tk::TestKey> rsa = tk::MakeRsa("bench");
  std::string dir;
  std::string jwks;
  Keys() {
    char tmpl[] = "/tmp/dealcoach-auth-bench.XXXXXX";
    dir = mkdtemp(tmpl);
    jwks = dir + "/jwks.json";
    std::ofstream(jwks) << tk::Json{{"keys", {rsa->jwk}}}.dump();
  }
  std::string Token(const std::string& subject) const {
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    return tk::Sign(*rsa, {{"iss", "https://login.example.com"},
                           {"aud", "dealcoach"},
                           {"sub", subject},
                           {"roles", "manager"},
                           {"iat", now},
                           {"exp", now + 3600}});
  }
};

const Keys& TheKeys() {
  static const Keys* k = new Keys();
  return *k;
}

std::unique_ptr<auth::Authorizer> MakeAuthorizer() {
  auth::AuthConfig c;
  c.required = true;
  auth::JwtVerifierOptions o;
  o.jwks_file = TheKeys().jwks;
  o.issuers = {"https://login.example.com"};
  o.audiences = {"dealcoach"};
  c.jwt = o;
  absl::StatusOr<std::unique_ptr<auth::Authorizer>> a = auth::Authorizer::Create(c);
  if (!a.ok()) {
    std::fprintf(stderr, "auth_bench: %s\n", a.status().ToString().c_str());
    std::abort();
  }
  return *std::move(a);
}

void BM_AuthenticateCachedJwt(benchmark::State& state) {
  std::unique_ptr<auth::Authorizer> authorizer = MakeAuthorizer();
  auth::CallCredentials creds;
  creds.authorization = absl::StrCat("Bearer ", TheKeys().Token("005000000000001"));
  if (!authorizer->Authenticate(creds).ok()) state.SkipWithError("token refused");
  for (auto _ : state) {
    absl::StatusOr<auth::Identity> id = authorizer->Authenticate(creds);
    benchmark::DoNotOptimize(id);
    absl::Status allowed =
        authorizer->Authorize(*id, "/dealcoach.v1.CoachingService/GetDealGuidance");
    benchmark::DoNotOptimize(allowed);
  }
  state.counters["signature_checks"] = static_cast<double>(authorizer->signature_checks());
}
BENCHMARK(BM_AuthenticateCachedJwt);

void BM_AuthenticateUncachedJwt(benchmark::State& state) {
  std::unique_ptr<auth::Authorizer> authorizer = MakeAuthorizer();
  std::vector<std::string> tokens;
  for (int i = 0; i < 64; ++i) {
    tokens.push_back(absl::StrCat("Bearer ", TheKeys().Token(absl::StrCat("user-", i))));
  }
  size_t i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auth::CallCredentials creds;
    // A fresh signature each round, so the cache never hits.
    creds.authorization = absl::StrCat("Bearer ", TheKeys().Token(absl::StrCat("u", i++)));
    state.ResumeTiming();
    absl::StatusOr<auth::Identity> id = authorizer->Authenticate(creds);
    benchmark::DoNotOptimize(id);
  }
}
BENCHMARK(BM_AuthenticateUncachedJwt)->Iterations(2000);

constexpr char kGuidanceMethod[] = "/dealcoach.v1.CoachingService/GetDealGuidance";

void BM_RecordCallInHandler(benchmark::State& state) {
  metrics::ServerMetrics m;
  metrics::MethodMetrics* series = m.ForMethod(kGuidanceMethod);
  for (auto _ : state) {
    const metrics::CallTimer timer(series);
    timer.Finish(0);
  }
}
BENCHMARK(BM_RecordCallInHandler);

void BM_RecordCallByLookup(benchmark::State& state) {
  metrics::ServerMetrics m;
  for (auto _ : state) m.RecordCall(kGuidanceMethod, 0, 0.0001);
}
BENCHMARK(BM_RecordCallByLookup);

double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::unique_ptr<server::Sidecar> StartSidecar(bool with_auth, bool with_metrics) {
  const std::string src = DEALCOACH_SOURCE_DIR;
  std::string yaml = absl::StrCat(
      "listen: 127.0.0.1:0\nlog_level: error\nstore: {backend: none}\n"
      "playbooks: {files: [\"",
      src, "/config/playbooks/customer-journey.yaml\"]}\nreload: {poll_interval: 1h}\n",
      "connector: {type: file, file: {path: \"", src,
      "/config/samples/opportunities.json\"}}\nsource: {sync_interval: 1h}\n");
  if (with_metrics) absl::StrAppend(&yaml, "admin_http: {listen: \"127.0.0.1:0\"}\n");
  if (with_auth) {
    absl::StrAppend(&yaml, "auth:\n  mode: required\n  jwt:\n    jwks_file: \"", TheKeys().jwks,
                    "\"\n    issuers: [\"https://login.example.com\"]\n    audiences: "
                    "[dealcoach]\n");
  }
  absl::StatusOr<server::SidecarConfig> config = server::ParseConfig(yaml, "bench", src, {});
  if (!config.ok()) {
    std::fprintf(stderr, "auth_bench: %s\n", config.status().ToString().c_str());
    std::abort();
  }
  absl::StatusOr<std::unique_ptr<server::Sidecar>> s = server::Sidecar::Start(*config);
  if (!s.ok()) {
    std::fprintf(stderr, "auth_bench: %s\n", s.status().ToString().c_str());
    std::abort();
  }
  return *std::move(s);
}

void BM_GetDealGuidance(benchmark::State& state) {
  const bool with_auth = state.range(0) != 0;
  std::unique_ptr<server::Sidecar> sidecar = StartSidecar(with_auth, state.range(1) != 0);
  auto stub = v1::CoachingService::NewStub(
      grpc::CreateChannel(sidecar->address(), grpc::InsecureChannelCredentials()));
  const std::string bearer = absl::StrCat("Bearer ", TheKeys().Token("005000000000001"));
  v1::GetDealGuidanceRequest req;
  req.set_opportunity_id("006000000000006AAA");
  const double cpu_before = ProcessCpuSeconds();
  for (auto _ : state) {
    grpc::ClientContext ctx;
    if (with_auth) ctx.AddMetadata("authorization", bearer);
    v1::GetDealGuidanceResponse resp;
    grpc::Status st = stub->GetDealGuidance(&ctx, req, &resp);
    if (!st.ok()) {
      state.SkipWithError(st.error_message().c_str());
      break;
    }
    benchmark::DoNotOptimize(resp);
  }
  // Every thread of this process: the caller's and the sidecar's (gRPC's pollers and
  // handler threads), so the call's whole CPU cost without the time spent waiting.
  state.counters["process_cpu_us_per_call"] =
      (ProcessCpuSeconds() - cpu_before) * 1e6 / static_cast<double>(state.iterations());
  sidecar->Shutdown(absl::ZeroDuration());
  sidecar->Wait();
}
BENCHMARK(BM_GetDealGuidance)
    ->ArgNames({"auth", "metrics"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({0, 1})
    ->UseRealTime();

}  // namespace
}  // namespace dealcoach::bench

int main(int argc, char** argv) {
  // As the dealcoach binary does (sidecar/server/main.cc): Debian's abseil runs its
  // debug-only deadlock detection otherwise, which is not what production pays.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
