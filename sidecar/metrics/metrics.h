// ServerMetrics: the sidecar's Prometheus metrics, in one prometheus-cpp registry.
//
//   - Every gRPC call, counted and timed by a server interceptor (NewInterceptorFactory):
//       dealcoach_rpc_requests_total{method, code}
//       dealcoach_rpc_duration_seconds{method}        (histogram)
//     Handlers are not touched: an RPC added later is measured without a code change.
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

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
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

class ServerMetrics {
 public:
  ServerMetrics();
  ~ServerMetrics();
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // For grpc::ServerBuilder::experimental().SetInterceptorCreators. Each factory refers to
  // this object, which must outlive the server.
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
  struct MethodMetrics;
  MethodMetrics* MetricsFor(const char* method);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* duration_;

  // Keyed by the method name's address: gRPC passes the same pointer (its RpcMethod's)
  // for every call of a method, so the request path hashes a pointer, not a string.
  mutable absl::Mutex mu_;
  absl::flat_hash_map<const char*, std::unique_ptr<MethodMetrics>> by_method_ ABSL_GUARDED_BY(mu_);

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
