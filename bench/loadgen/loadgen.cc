// loadgen: a gRPC load generator for the dealcoach sidecar (C++ async API, one
// CompletionQueue driven by one thread, up to --concurrency calls outstanding).
//
// Modes:
//   closed  every completion immediately issues the next call: maximum throughput.
//   rate    calls are scheduled at a fixed offered rate; latency is measured from each
//           call's INTENDED send time, so a stalled server is charged for the calls it
//           delayed (no coordinated omission). Calls that could not even be sent before
//           the end of the run are counted as `unsent`; more than 0.1% unsent means
//           the rate was not sustained.
// RPCs:
//   guidance_push  CoachingService.GetDealGuidance with an inline generated opportunity
//   guidance_id    CoachingService.GetDealGuidance by id (cached by the sidecar)
//   health         grpc.health.v1.Health/Check, the transport baseline
//   http_guidance_id  GET /v1/deals/{id}/guidance over HTTP/1.1 keep-alive against the
//                  HTTP listener (--target is then http.listen; http_load.h)
//
// It starts and stops nothing: scripts/bench.sh runs the server. Targets must be on
// loopback. Every loop is bounded by --duration and --max-requests, plus a drain timeout.
// --wait-serving S polls Health/Check until SERVING (exit 0) or S seconds pass (exit 1).
// The result is one JSON object on stdout (or in --out). With --server-pid PID it also
// holds the server's CPU per call and utilization over the measured window (`server`,
// read from /proc: server_usage.h; gRPC RPCs only).
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "bench/common/opportunity_generator.h"
#include "bench/loadgen/histogram.h"
#include "bench/loadgen/http_load.h"
#include "bench/loadgen/server_usage.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "health.grpc.pb.h"
#include "nlohmann/json.hpp"

namespace dealcoach::bench {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// CompletionQueue deadlines are system_clock time points; convert a steady_clock instant.
std::chrono::system_clock::time_point SystemDeadline(int64_t steady_ns) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(
             std::chrono::nanoseconds(std::max<int64_t>(0, steady_ns - NowNs())));
}

struct Options {
  std::string target;
  std::string rpc = "health";
  std::string mode = "closed";
  int concurrency = 16;
  double rate = 0;  // calls per second, rate mode
  double duration_s = 5;
  double warmup_s = 1;
  int64_t max_requests = 50000000;
  double rpc_deadline_s = 5;
  int pool = 1000;  // distinct generated opportunities for guidance_push
  uint64_t seed = 42;
  std::vector<std::string> ids;
  std::string out;
  std::string label;
  double wait_serving_s = 0;
  // The server's pid, to report its CPU per call over the measured window (/proc).
  pid_t server_pid = 0;
  // TLS (bench/loadgen/production_pair.sh): the CA to trust, and a client certificate
  // for mutual TLS; the server name to expect in its certificate.
  std::string tls_ca, tls_cert, tls_key, tls_name = "localhost";
};

// One outstanding call; `this` is the completion-queue tag.
class Call {
 public:
  virtual ~Call() = default;
  grpc::ClientContext context;
  grpc::Status status;
  int64_t intended_ns = 0;
};

class HealthCall : public Call {
 public:
  HealthCall(grpc::health::v1::Health::Stub* stub, grpc::CompletionQueue* cq,
             std::chrono::system_clock::time_point deadline) {
    context.set_deadline(deadline);
    reader_ = stub->PrepareAsyncCheck(&context, request_, cq);
    reader_->StartCall();
    reader_->Finish(&response, &status, this);
  }
  grpc::health::v1::HealthCheckResponse response;

 private:
  grpc::health::v1::HealthCheckRequest request_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<grpc::health::v1::HealthCheckResponse>> reader_;
};

class GuidanceCall : public Call {
 public:
  GuidanceCall(v1::CoachingService::Stub* stub, const v1::GetDealGuidanceRequest& request,
               grpc::CompletionQueue* cq, std::chrono::system_clock::time_point deadline) {
    context.set_deadline(deadline);
    reader_ = stub->PrepareAsyncGetDealGuidance(&context, request, cq);
    reader_->StartCall();
    reader_->Finish(&response_, &status, this);
  }

 private:
  v1::GetDealGuidanceResponse response_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::GetDealGuidanceResponse>> reader_;
};

bool IsLoopback(const std::string& target) {
  return absl::StartsWith(target, "127.0.0.1:") || absl::StartsWith(target, "localhost:") ||
         absl::StartsWith(target, "[::1]:") || absl::StartsWith(target, "ipv4:127.0.0.1:");
}

std::string Usage() {
  return "usage: loadgen --target 127.0.0.1:PORT [--rpc health|guidance_push|guidance_id|\n"
         "  http_guidance_id]\n"
         "  [--mode closed|rate] [--concurrency N] [--rate R] [--duration S] [--warmup S]\n"
         "  [--max-requests N] [--pool N] [--seed S] [--ids a,b,c | --ids-json FILE]\n"
         "  [--label L] [--out FILE] [--wait-serving S] [--server-pid PID]\n"
         "  [--tls-ca PEM [--tls-cert PEM --tls-key PEM] [--tls-name NAME]]\n";
}

// Reads opportunity ids from a JSON file: an array of opportunities, or an object with
// an "opportunities" array.
bool ReadIdsJson(const std::string& path, std::vector<std::string>* ids) {
  std::ifstream in(path);
  if (!in) return false;
  try {
    nlohmann::json doc = nlohmann::json::parse(in);
    const nlohmann::json& list = doc.is_array() ? doc : doc.at("opportunities");
    for (const auto& o : list) ids->push_back(o.at("id").get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    std::fprintf(stderr, "loadgen: %s: %s\n", path.c_str(), e.what());
    return false;
  }
  return !ids->empty();
}

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return false;
    const std::string v = argv[++i];
    bool ok = true;
    if (a == "--target")
      o->target = v;
    else if (a == "--rpc")
      o->rpc = v;
    else if (a == "--mode")
      o->mode = v;
    else if (a == "--concurrency")
      ok = absl::SimpleAtoi(v, &o->concurrency);
    else if (a == "--rate")
      ok = absl::SimpleAtod(v, &o->rate);
    else if (a == "--duration")
      ok = absl::SimpleAtod(v, &o->duration_s);
    else if (a == "--warmup")
      ok = absl::SimpleAtod(v, &o->warmup_s);
    else if (a == "--max-requests")
      ok = absl::SimpleAtoi(v, &o->max_requests);
    else if (a == "--pool")
      ok = absl::SimpleAtoi(v, &o->pool);
    else if (a == "--seed")
      ok = absl::SimpleAtoi(v, &o->seed);
    else if (a == "--ids")
      o->ids = absl::StrSplit(v, ',', absl::SkipEmpty());
    else if (a == "--ids-json")
      ok = ReadIdsJson(v, &o->ids);
    else if (a == "--label")
      o->label = v;
    else if (a == "--out")
      o->out = v;
    else if (a == "--wait-serving")
      ok = absl::SimpleAtod(v, &o->wait_serving_s);
    else if (a == "--tls-ca")
      o->tls_ca = v;
    else if (a == "--tls-cert")
      o->tls_cert = v;
    else if (a == "--tls-key")
      o->tls_key = v;
    else if (a == "--tls-name")
      o->tls_name = v;
    else if (a == "--server-pid") {
      int pid = 0;
      ok = absl::SimpleAtoi(v, &pid) && pid > 0;
      o->server_pid = pid;
    } else
      ok = false;
    if (!ok) {
      std::fprintf(stderr, "loadgen: bad argument %s %s\n", a.c_str(), v.c_str());
      return false;
    }
  }
  if (o->target.empty() || !IsLoopback(o->target)) {
    std::fprintf(stderr, "loadgen: --target must be a loopback address (127.0.0.1:PORT)\n");
    return false;
  }
  if (o->rpc != "health" && o->rpc != "guidance_push" && o->rpc != "guidance_id" &&
      o->rpc != "http_guidance_id") {
    return false;
  }
  if (o->mode != "closed" && o->mode != "rate") return false;
  if (o->mode == "rate" && o->rate <= 0) return false;
  if ((o->rpc == "guidance_id" || o->rpc == "http_guidance_id") && o->ids.empty()) {
    std::fprintf(stderr, "loadgen: guidance_id needs --ids or --ids-json\n");
    return false;
  }
  o->concurrency = std::clamp(o->concurrency, 1, 10000);
  o->duration_s = std::clamp(o->duration_s, 0.1, 600.0);
  o->warmup_s = std::clamp(o->warmup_s, 0.0, 60.0);
  o->pool = std::clamp(o->pool, 1, 100000);
  return true;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int WaitServing(grpc::health::v1::Health::Stub* stub, double seconds) {
  const int64_t end = NowNs() + static_cast<int64_t>(seconds * 1e9);
  std::string last = "no answer";
  while (NowNs() < end) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = stub->Check(&context, request, &response);
    if (status.ok() && response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return 0;
    }
    last = status.ok()
               ? grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status())
               : status.error_message();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::fprintf(stderr, "loadgen: server not SERVING after %.1f s (%s)\n", seconds, last.c_str());
  return 1;
}

int Run(const Options& o) {
  if (o.rpc == "http_guidance_id") {
    return RunHttpLoad({.target = o.target,
                        .mode = o.mode,
                        .concurrency = o.concurrency,
                        .rate = o.rate,
                        .duration_s = o.duration_s,
                        .warmup_s = o.warmup_s,
                        .max_requests = o.max_requests,
                        .request_timeout_s = o.rpc_deadline_s,
                        .ids = o.ids,
                        .label = o.label,
                        .out = o.out});
  }
  grpc::ChannelArguments args;
  // One connection, no proxies: what a CRM server next to the sidecar would use.
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  args.SetMaxReceiveMessageSize(64 << 20);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!o.tls_ca.empty()) {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ReadFile(o.tls_ca);
    if (!o.tls_cert.empty()) tls.pem_cert_chain = ReadFile(o.tls_cert);
    if (!o.tls_key.empty()) tls.pem_private_key = ReadFile(o.tls_key);
    credentials = grpc::SslCredentials(tls);
    args.SetSslTargetNameOverride(o.tls_name);
  }
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(o.target, credentials, args);
  auto health = grpc::health::v1::Health::NewStub(channel);
  if (o.wait_serving_s > 0) return WaitServing(health.get(), o.wait_serving_s);
  auto coaching = v1::CoachingService::NewStub(channel);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5))) {
    std::fprintf(stderr, "loadgen: cannot connect to %s\n", o.target.c_str());
    return 1;
  }

  // Requests are built before the clock starts.
  std::vector<v1::GetDealGuidanceRequest> requests;
  if (o.rpc == "guidance_push") {
    OpportunityGenerator generator(o.seed);
    for (int i = 0; i < o.pool; ++i) {
      v1::GetDealGuidanceRequest r;
      *r.mutable_opportunity() = generator.Make(i);
      r.mutable_as_of()->set_seconds(absl::ToUnixSeconds(generator.now()));
      requests.push_back(std::move(r));
    }
  } else if (o.rpc == "guidance_id") {
    for (const std::string& id : o.ids) {
      v1::GetDealGuidanceRequest r;
      r.set_opportunity_id(id);
      requests.push_back(std::move(r));
    }
  }

  grpc::CompletionQueue cq;
  size_t next_request = 0;
  const auto rpc_deadline = std::chrono::milliseconds(static_cast<int64_t>(o.rpc_deadline_s * 1e3));
  auto issue = [&](int64_t intended_ns) {
    const auto deadline = std::chrono::system_clock::now() + rpc_deadline;
    Call* call;
    if (o.rpc == "health") {
      call = new HealthCall(health.get(), &cq, deadline);
    } else {
      call = new GuidanceCall(coaching.get(), requests[next_request], &cq, deadline);
      next_request = (next_request + 1) % requests.size();
    }
    call->intended_ns = intended_ns;
    return call;
  };

  LatencyHistogram histogram;
  std::map<std::string, int64_t> errors;
  const int64_t start_ns = NowNs();
  const int64_t measure_ns = start_ns + static_cast<int64_t>(o.warmup_s * 1e9);
  const int64_t end_ns = measure_ns + static_cast<int64_t>(o.duration_s * 1e9);
  const int64_t drain_end_ns = end_ns + static_cast<int64_t>(o.rpc_deadline_s * 1e9);
  const bool rate_mode = o.mode == "rate";
  const double interval_ns = rate_mode ? 1e9 / o.rate : 0;
  int64_t scheduled = 0;  // rate mode: calls whose intended time has been assigned
  int64_t issued = 0;
  int64_t outstanding = 0;
  int64_t completed_in_window = 0;
  int64_t unsent = 0;

  auto intended_at = [&](int64_t k) {
    return start_ns + static_cast<int64_t>(static_cast<double>(k) * interval_ns);
  };
  if (!rate_mode) {
    for (int i = 0; i < o.concurrency && issued < o.max_requests; ++i, ++issued) {
      issue(NowNs());
      ++outstanding;
    }
  }
  bool timed_out = false;
  // The server's usage at the start and the end of the measured window.
  std::optional<UsageSample> usage_begin, usage_end;
  bool usage_begun = false, usage_ended = false;
  while (true) {
    int64_t now = NowNs();
    if (o.server_pid > 0 && !usage_begun && now >= measure_ns) {
      usage_begun = true;
      usage_begin = SampleUsage(o.server_pid);
    }
    if (o.server_pid > 0 && usage_begun && !usage_ended && now >= end_ns) {
      usage_ended = true;
      usage_end = SampleUsage(o.server_pid);
    }
    if (rate_mode && now < end_ns) {
      while (intended_at(scheduled) <= now && outstanding < o.concurrency &&
             issued < o.max_requests) {
        issue(intended_at(scheduled));
        ++scheduled;
        ++issued;
        ++outstanding;
      }
    }
    if (now >= end_ns && outstanding == 0) break;
    // --max-requests reached and answered: a fixed number of calls (callgrind_profile.sh).
    if (issued >= o.max_requests && outstanding == 0) break;
    if (now >= drain_end_ns) {
      timed_out = true;
      break;
    }
    int64_t wake_ns = drain_end_ns;
    if (rate_mode && now < end_ns && outstanding < o.concurrency) {
      wake_ns = std::min(intended_at(scheduled), end_ns);
    } else if (now < end_ns) {
      wake_ns = end_ns;
    }
    void* tag = nullptr;
    bool ok = false;
    const auto result = cq.AsyncNext(&tag, &ok, SystemDeadline(wake_ns));
    if (result == grpc::CompletionQueue::SHUTDOWN) break;
    if (result == grpc::CompletionQueue::TIMEOUT) continue;
    std::unique_ptr<Call> call(static_cast<Call*>(tag));
    --outstanding;
    const int64_t done_ns = NowNs();
    if (!call->status.ok() || !ok) {
      ++errors[grpc::StatusCode(call->status.error_code()) == grpc::StatusCode::OK
                   ? "CQ_NOT_OK"
                   : std::to_string(call->status.error_code()) + " " +
                         call->status.error_message().substr(0, 120)];
    } else if (call->intended_ns >= measure_ns && call->intended_ns < end_ns) {
      histogram.Record(done_ns - call->intended_ns);
    }
    if (done_ns >= measure_ns && done_ns < end_ns) ++completed_in_window;
    if (!rate_mode && done_ns < end_ns && issued < o.max_requests) {
      issue(NowNs());
      ++issued;
      ++outstanding;
    }
  }
  if (rate_mode) {
    // Calls that were due before the end but never sent: the server fell behind.
    while (intended_at(scheduled) < end_ns && scheduled < o.max_requests) {
      ++scheduled;
      ++unsent;
    }
  }
  if (timed_out) {
    // Every call carries a deadline, so the drain below still ends.
    std::fprintf(stderr, "loadgen: %lld calls still outstanding after the drain timeout\n",
                 static_cast<long long>(outstanding));
  }
  cq.Shutdown();
  void* tag;
  bool ok;
  while (outstanding > 0 && cq.Next(&tag, &ok)) {
    delete static_cast<Call*>(tag);
    --outstanding;
  }

  int64_t error_count = 0;
  nlohmann::json errs = nlohmann::json::object();
  for (const auto& [k, v] : errors) {
    errs[k] = v;
    error_count += v;
  }
  auto us = [](int64_t ns) { return static_cast<double>(ns) / 1000.0; };
  nlohmann::json out = {
      {"label", o.label},
      {"rpc", o.rpc},
      {"mode", o.mode},
      {"concurrency", o.concurrency},
      {"offered_rate", rate_mode ? o.rate : 0.0},
      {"duration_s", o.duration_s},
      {"warmup_s", o.warmup_s},
      {"issued", issued},
      {"recorded", histogram.count()},
      {"completed_in_window", completed_in_window},
      {"throughput_rps", static_cast<double>(completed_in_window) / o.duration_s},
      {"errors", error_count},
      {"error_kinds", errs},
      {"unsent", unsent},
      // A handful of calls due in the last instants before the end may miss the cut when
      // the load generator itself is descheduled; more than 0.1% means the rate was not
      // sustained.
      {"sustained", error_count == 0 && unsent * 1000 <= std::max<int64_t>(1, scheduled)},
      {"latency_us",
       {{"p50", us(histogram.ValueAtQuantile(0.50))},
        {"p90", us(histogram.ValueAtQuantile(0.90))},
        {"p99", us(histogram.ValueAtQuantile(0.99))},
        {"p999", us(histogram.ValueAtQuantile(0.999))},
        {"max", us(histogram.max())},
        {"mean", histogram.mean() / 1000.0}}},
  };
  if (usage_begin.has_value() && usage_end.has_value()) {
    const UsageDelta d = Delta(*usage_begin, *usage_end, completed_in_window);
    out["server"] = {{"pid", o.server_pid},
                     {"utilization", d.utilization},
                     {"cpu_us_per_call", d.cpu_us_per_call},
                     {"user_us_per_call", d.user_us_per_call},
                     {"system_us_per_call", d.system_us_per_call},
                     {"runqueue_wait_us_per_call", d.runqueue_wait_us_per_call},
                     {"context_switches_per_call", d.context_switches_per_call}};
  } else if (o.server_pid > 0) {
    std::fprintf(stderr, "loadgen: could not read /proc/%d for --server-pid\n",
                 static_cast<int>(o.server_pid));
  }
  const std::string text = out.dump(2);
  if (o.out.empty()) {
    std::cout << text << "\n";
  } else {
    std::ofstream f(o.out);
    f << text << "\n";
    if (!f) return 1;
  }
  return error_count > 0 ? 3 : 0;
}

}  // namespace
}  // namespace dealcoach::bench

int main(int argc, char** argv) {
  dealcoach::bench::Options options;
  if (!dealcoach::bench::ParseArgs(argc, argv, &options)) {
    std::fputs(dealcoach::bench::Usage().c_str(), stderr);
    return 2;
  }
  return dealcoach::bench::Run(options);
}
