#include "sidecar/metrics/metrics.h"

#include <grpcpp/support/interceptor.h>

#include <array>
#include <chrono>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"

namespace dealcoach::metrics {

namespace {

// gRPC's codes are absl's, number for number: one name table for both.
std::string CodeName(int code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// Measures one call: created by gRPC when the call starts, records at PRE_SEND_STATUS
// (the status the server is about to send), deleted by gRPC when the call ends.
class CallInterceptor final : public grpc::experimental::Interceptor {
 public:
  CallInterceptor(ServerMetrics* metrics, const char* method)
      : metrics_(metrics), method_(method), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
      metrics_->RecordCall(method_, static_cast<int>(status.error_code()), elapsed.count());
    }
    methods->Proceed();
  }

 private:
  ServerMetrics* metrics_;
  const char* method_;
  std::chrono::steady_clock::time_point start_;
};

// `skip`: the methods their handlers record, frozen when the factory is made (before the
// server starts), so the per-call check takes no lock. gRPC still makes a ServerRpcInfo
// per call once any factory is installed; for a skipped method that is all it costs.
class InterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  InterceptorFactory(ServerMetrics* metrics, absl::flat_hash_set<std::string> skip)
      : metrics_(metrics), skip_(std::move(skip)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    const char* method = info->method();
    if (method != nullptr && skip_.contains(absl::string_view(method))) return nullptr;
    return new CallInterceptor(metrics_, method);
  }

 private:
  ServerMetrics* metrics_;
  const absl::flat_hash_set<std::string> skip_;
};

}  // namespace

const std::vector<double>& RpcDurationBuckets() {
  static const std::vector<double> kBuckets = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                               0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                               0.5,     1,      2.5,     5,      10};
  return kBuckets;
}

ServerMetrics::ServerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(&prometheus::BuildCounter()
                     .Name("dealcoach_rpc_requests_total")
                     .Help("gRPC calls answered, by method and status code")
                     .Register(*registry_)),
      duration_(&prometheus::BuildHistogram()
                     .Name("dealcoach_rpc_duration_seconds")
                     .Help("gRPC call duration from the call's start to its status, by method")
                     .Register(*registry_)) {}

ServerMetrics::~ServerMetrics() = default;

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
ServerMetrics::NewInterceptorFactory() {
  absl::flat_hash_set<std::string> skip;
  {
    absl::MutexLock lock(&mu_);
    skip = handler_recorded_;
  }
  return std::make_unique<InterceptorFactory>(this, std::move(skip));
}

MethodMetrics* ServerMetrics::CreateSeries(const std::string& name) {
  std::unique_ptr<MethodMetrics>& slot = by_name_[name];
  if (slot == nullptr) {
    slot = std::make_unique<MethodMetrics>();
    for (int code = 0; code < kGrpcCodes; ++code) {
      // Counters for every code exist from the first call, so rate() over a code that has
      // not happened yet is 0, not absent.
      slot->by_code_[code] = &requests_->Add({{"method", name}, {"code", CodeName(code)}});
    }
    slot->duration_ = &duration_->Add({{"method", name}}, RpcDurationBuckets());
  }
  return slot.get();
}

MethodMetrics* ServerMetrics::ForMethod(absl::string_view full_method) {
  absl::MutexLock lock(&mu_);
  const std::string name(full_method);
  handler_recorded_.insert(name);
  return CreateSeries(name);
}

MethodMetrics* ServerMetrics::MetricsFor(const char* method) {
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = by_pointer_.find(method);
    if (it != by_pointer_.end()) return it->second;
  }
  absl::MutexLock lock(&mu_);
  MethodMetrics*& slot = by_pointer_[method];
  if (slot == nullptr) slot = CreateSeries(method == nullptr ? "unknown" : method);
  return slot;
}

void ServerMetrics::RecordCall(const char* method, int code, double seconds) {
  MetricsFor(method)->Record(code, seconds);
}

bool ServerMetrics::AddGaugeSampler(const std::string& name, const std::string& help,
                                    std::function<std::vector<GaugeSample>()> sample) {
  absl::MutexLock lock(&samplers_mu_);
  for (const Sampler& s : samplers_) {
    if (s.name == name) return false;
  }
  samplers_.push_back(Sampler{name, help, std::move(sample)});
  return true;
}

std::string ServerMetrics::Scrape() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  {
    absl::MutexLock lock(&samplers_mu_);
    for (const Sampler& s : samplers_) {
      prometheus::MetricFamily family;
      family.name = s.name;
      family.help = s.help;
      family.type = prometheus::MetricType::Gauge;
      for (const GaugeSample& g : s.sample()) {
        prometheus::ClientMetric metric;
        for (const auto& [k, v] : g.labels) metric.label.push_back({k, v});
        metric.gauge.value = g.value;
        family.metric.push_back(std::move(metric));
      }
      families.push_back(std::move(family));
    }
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace dealcoach::metrics
