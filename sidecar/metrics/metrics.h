// ServerMetrics: the sidecar's Prometheus metrics, in one prometheus-cpp registry.
//
//   - Every gRPC call, counted and timed:
//       dealcoach_rpc_requests_total{method, code}
//       dealcoach_rpc_duration_seconds{method}        (histogram)
//     The service's own handler wrappers (sidecar/server/services.cc) record their methods
//     through a MethodMetrics resolved once at registration (ForMethod): one counter
//     increment and one histogram observation per call, no lookup, no allocation. Every
//     other method (gRPC's health and reflection services, streaming and admin methods
//     served by generated handlers) is recorded by a server interceptor
//     (NewInterceptorFactory), which creates no interceptor for the methods the handlers
//     record: an RPC added later is still measured without a code change, and the hot
//     path does not pay the interceptor's per-call object and hook batches (issue 15's
//     "metrics on vs off within 3%", bench/loadgen/production_pair.sh).
//   - State read at scrape time from the components that own it (AddGaugeSampler): cache
//     size and freshness, sync lag, connector breaker, serving playbook revisions,
//     decision-log queue and drops, store health. Sampling at scrape time keeps the
//     request path free of bookkeeping for values that only matter when someone looks.
//
// Scrape() renders the Prometheus text exposition format (prometheus-cpp's
// TextSerializer); AdminHttpServer (admin_http.h) serves it on /metrics.
//
// Thread safety: every method is safe to call from any thread. Samplers must be added
// before the first scrape that should see them, and must stay callable until the
// ServerMetrics is destroyed.
#ifndef DEALCOACH_SIDECAR_METRICS_METRICS_H_
#define DEALCOACH_SIDECAR_METRICS_METRICS_H_

#include <grpcpp/support/server_interceptor.h>

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace dealcoach::metrics {

// One value of a scrape-time gauge.
struct GaugeSample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

// gRPC status codes OK .. UNAUTHENTICATED (gRPC's numbers are absl's).
inline constexpr int kGrpcCodes = 17;

// The series of one RPC method, resolved once (ServerMetrics::ForMethod). Record is one
// counter increment and one histogram observation on pre-resolved children: no label
// lookup, no lock of ours, no allocation. Thread-safe; owned by its ServerMetrics.
class MethodMetrics {
 public:
  // `code` outside OK .. UNAUTHENTICATED counts as UNKNOWN.
  void Record(int code, double seconds) {
    by_code_[code >= 0 && code < kGrpcCodes ? code : 2]->Increment();
    duration_->Observe(seconds);
  }

 private:
  friend class ServerMetrics;
  std::array<prometheus::Counter*, kGrpcCodes> by_code_{};
  prometheus::Histogram* duration_ = nullptr;
};

// One call of a method, timed from construction (steady clock) to Finish. A null
// MethodMetrics (metrics off) records nothing and reads no clock.
class CallTimer {
 public:
  explicit CallTimer(MethodMetrics* method)
      : method_(method),
        start_(method != nullptr ? std::chrono::steady_clock::now()
                                 : std::chrono::steady_clock::time_point()) {}
  // Records the call with its status code; call once, before the status is sent, so a
  // scrape after the caller has its answer sees the call.
  void Finish(int code) const {
    if (method_ == nullptr) return;
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
    method_->Record(code, elapsed.count());
  }

 private:
  MethodMetrics* method_;
  std::chrono::steady_clock::time_point start_;
};

class ServerMetrics {
 public:
  ServerMetrics();
  ~ServerMetrics();
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // The series of `full_method` ("/pkg.Service/Method"), created on first use; the
  // pointer stays valid for this object's life. The method is then recorded by its
  // handler (MethodMetrics::Record / CallTimer), and interceptor factories made after
  // this call create no interceptor for it.
  [[nodiscard]] MethodMetrics* ForMethod(absl::string_view full_method);

  // For grpc::ServerBuilder::experimental().SetInterceptorCreators: records every method
  // not taken by ForMethod before this call. Each factory refers to this object, which
  // must outlive the server.
  [[nodiscard]] std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  NewInterceptorFactory();

  // Adds a gauge family whose samples `sample` returns at each scrape. False (and nothing
  // added) when `name` is already taken.
  bool AddGaugeSampler(const std::string& name, const std::string& help,
                       std::function<std::vector<GaugeSample>()> sample);

  // The registry, for components that keep their own counters (for example a benchmark).
  prometheus::Registry& registry() { return *registry_; }

  // Every metric in the text exposition format (version 0.0.4).
  [[nodiscard]] std::string Scrape() const;

  // Records one finished call (what the interceptor does; exposed for tests).
  void RecordCall(const char* method, int code, double seconds);

 private:
  // The series of `name`, creating them (every code's counter) on first use.
  MethodMetrics* CreateSeries(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  MethodMetrics* MetricsFor(const char* method);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* duration_;

  mutable absl::Mutex mu_;
  // Every method's series, by name (one MethodMetrics per method, whoever records it).
  absl::flat_hash_map<std::string, std::unique_ptr<MethodMetrics>> by_name_ ABSL_GUARDED_BY(mu_);
  // The interceptor's cache, keyed by the method name's address: gRPC passes the same
  // pointer (its RpcMethod's) for every call of a method, so it hashes a pointer.
  absl::flat_hash_map<const char*, MethodMetrics*> by_pointer_ ABSL_GUARDED_BY(mu_);
  // Methods recorded by their handlers (ForMethod): the interceptor skips them.
  absl::flat_hash_set<std::string> handler_recorded_ ABSL_GUARDED_BY(mu_);

  struct Sampler {
    std::string name;
    std::string help;
    std::function<std::vector<GaugeSample>()> sample;
  };
  mutable absl::Mutex samplers_mu_;
  std::vector<Sampler> samplers_ ABSL_GUARDED_BY(samplers_mu_);
};

// Latency buckets (seconds) for RPC durations: 50 µs .. 10 s.
const std::vector<double>& RpcDurationBuckets();

}  // namespace dealcoach::metrics

#endif  // DEALCOACH_SIDECAR_METRICS_METRICS_H_
