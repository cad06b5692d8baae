// stream_bench: EvaluatePipeline over N cached deals to a C++ streaming client on
// loopback, against the in-process bulk evaluation rate on the same machine, and the
// memory the stream holds (docs/manager.md, issue 12's "at least 0.5x" and "never the
// pipeline twice").
//
//   build/bench/pipeline/stream_bench [--count N] [--rounds R]
//   build/bench/pipeline/stream_bench --agenda 200 [--calls C]
//
// 1. N generated deals (bench/common) written as JSON, served by an in-process sidecar
//    (the file connector, no store) on 127.0.0.1; waits until the cache holds all N.
// 2. R rounds, alternating (the machine is shared: paired runs see the same load):
//      bulk    in process, one thread: every cached deal parsed from its bytes and
//              evaluated into a reused DealGuidance (the default 3 behaviors): the bulk
//              evaluation rate
//      stream  EvaluatePipeline(scope all) read to the end by a C++ client
//              (grpc::ClientReader) in this process over loopback: the server evaluates
//              every deal (all behaviors, indicators) and writes one message per deal
//    and prints both rates and stream / bulk per round, then the median ratio. Rates are
//    from CPU time (this process's, server and client included, getrusage) and from
//    wall time.
// 3. Memory: the process's resident set (VmRSS) sampled every 2 ms during one stream,
//    peak minus the level before it, against the bytes of all N streamed results (what
//    holding the pipeline's results once would cost).
// With --agenda DEALS: GetCoachingAgenda for one rep owning DEALS deals (the whole team)
// against GetDealGuidance for one of them, p50 and p99 over C sequential calls each, in
// alternating blocks of 50.
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/common/opportunity_generator.h"
#include "dealcoach/v1/admin_service.grpc.pb.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "sidecar/engine/engine.h"
#include "sidecar/server/config.h"
#include "sidecar/server/sidecar.h"

namespace dealcoach::bench {
namespace {

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int64_t RssBytes() {
  std::ifstream in("/proc/self/statm");
  int64_t pages = 0;
  int64_t resident = 0;
  in >> pages >> resident;
  return resident * 4096;
}

struct Rate {
  double cpu_per_s = 0;
  double wall_per_s = 0;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// An in-process sidecar serving `deals` through the file connector (no store), with
// every deal cached.
struct Served {
  std::string dir;
  std::string path;
  std::unique_ptr<server::Sidecar> sidecar;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::CoachingService::Stub> coaching;

  ~Served() {
    if (sidecar != nullptr) sidecar->Shutdown(absl::Seconds(1));
    sidecar.reset();
    if (!path.empty()) std::remove(path.c_str());
    if (!dir.empty()) rmdir(dir.c_str());
  }
};

std::unique_ptr<Served> Serve(const std::vector<v1::Opportunity>& deals, absl::Time now,
                              uint64_t seed) {
  auto served = std::make_unique<Served>();
  char dir_template[] = "/tmp/stream_bench.XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return nullptr;
  served->dir = dir_template;
  served->path = absl::StrCat(served->dir, "/deals.json");
  {
    std::ofstream out(served->path);
    out << OpportunitiesToJson(deals, now, seed);
  }
  const std::string config_text = absl::StrCat(
      "listen: 127.0.0.1:0\nlog_level: error\n", "playbooks: {files: [\"", DEALCOACH_SOURCE_DIR,
      "/config/playbooks/customer-journey.yaml\"]}\n", "connector: {type: file, file: {path: \"",
      served->path, "\"}}\nstore:\n  backend: none\n");
  absl::StatusOr<server::SidecarConfig> config =
      server::ParseConfig(config_text, "stream-bench.yaml", served->dir, {});
  if (!config.ok()) {
    std::fprintf(stderr, "config: %s\n", config.status().ToString().c_str());
    return nullptr;
  }
  config->store.enabled = false;
  absl::StatusOr<std::unique_ptr<server::Sidecar>> sidecar = server::Sidecar::Start(*config);
  if (!sidecar.ok()) {
    std::fprintf(stderr, "start: %s\n", sidecar.status().ToString().c_str());
    return nullptr;
  }
  served->sidecar = *std::move(sidecar);
  served->channel =
      grpc::CreateChannel(served->sidecar->address(), grpc::InsecureChannelCredentials());
  served->coaching = v1::CoachingService::NewStub(served->channel);
  auto admin = v1::AdminService::NewStub(served->channel);
  const int64_t count = static_cast<int64_t>(deals.size());
  const absl::Time deadline = absl::Now() + absl::Minutes(5);
  int64_t cached = 0;
  while (cached < count && absl::Now() < deadline) {
    grpc::ClientContext ctx;
    v1::GetStatusResponse status;
    if (admin->GetStatus(&ctx, v1::GetStatusRequest(), &status).ok()) {
      cached = status.source().cached_count();
    }
    if (cached < count) absl::SleepFor(absl::Milliseconds(100));
  }
  if (cached < count) {
    std::fprintf(stderr, "the cache holds %lld of %lld deals\n", static_cast<long long>(cached),
                 static_cast<long long>(count));
    return nullptr;
  }
  return served;
}

int Run(int64_t count, int rounds, int batch) {
  OpportunityGenerator generator(21);
  std::vector<v1::Opportunity> deals = generator.MakeMany(0, count);
  std::unique_ptr<Served> served = Serve(deals, generator.now(), 21);
  if (served == nullptr) return 1;
  auto& coaching = served->coaching;
  // The cache holds normalised bytes; the bulk pass reads the same.
  std::vector<std::string> bytes;
  bytes.reserve(deals.size());
  for (v1::Opportunity& o : deals) {
    engine::NormalizeOpportunity(&o);
    bytes.push_back(o.SerializeAsString());
  }
  deals.clear();
  deals.shrink_to_fit();
  engine::LoadResult playbook =
      engine::LoadPlaybookFile(DEALCOACH_SOURCE_DIR "/config/playbooks/customer-journey.yaml");
  if (!playbook.ok()) return 1;

  auto bulk = [&]() {
    const double cpu0 = CpuSeconds();
    const absl::Time t0 = absl::Now();
    v1::Opportunity opp;
    v1::DealGuidance g;
    int64_t phases = 0;
    for (const std::string& b : bytes) {
      opp.ParseFromString(b);
      playbook.playbook->EvaluateInto(opp, BenchNow(), {}, &g);
      phases += g.evidence_phase().index();
    }
    if (phases < 0) std::printf("?");
    return Rate{static_cast<double>(count) / (CpuSeconds() - cpu0),
                static_cast<double>(count) / absl::ToDoubleSeconds(absl::Now() - t0)};
  };
  int64_t result_bytes = 0;
  auto stream = [&](int batch, int64_t* read_out) {
    const double cpu0 = CpuSeconds();
    const absl::Time t0 = absl::Now();
    v1::EvaluatePipelineRequest req;
    req.mutable_scope()->set_all(true);
    req.set_batch_size(batch);
    grpc::ClientContext ctx;
    auto reader = coaching->EvaluatePipeline(&ctx, req);
    v1::EvaluatePipelineResponse msg;
    int64_t read = 0;
    int64_t size = 0;
    while (reader->Read(&msg)) {
      // Deals, not messages: a batched message holds up to `batch` of them.
      read += msg.has_deal() || msg.has_not_evaluated()
                  ? 1
                  : msg.deals_size() + msg.not_evaluated_deals_size();
      size += static_cast<int64_t>(msg.ByteSizeLong());
    }
    grpc::Status st = reader->Finish();
    if (!st.ok()) std::fprintf(stderr, "stream: %s\n", st.error_message().c_str());
    result_bytes = size;
    *read_out = read;
    return Rate{static_cast<double>(read) / (CpuSeconds() - cpu0),
                static_cast<double>(read) / absl::ToDoubleSeconds(absl::Now() - t0)};
  };

  std::printf(
      "stream_bench: %lld cached deals, %d rounds (bulk, stream one deal per message, stream "
      "batch_size %d)\n",
      static_cast<long long>(count), rounds, batch);
  std::vector<double> cpu_ratios;
  std::vector<double> wall_ratios;
  std::vector<double> single_cpu_ratios;
  std::vector<double> single_wall_ratios;
  for (int r = 0; r < rounds; ++r) {
    const Rate b = bulk();
    int64_t single_read = 0;
    const Rate one = stream(1, &single_read);
    int64_t read = 0;
    const Rate s = stream(batch, &read);
    single_cpu_ratios.push_back(one.cpu_per_s / b.cpu_per_s);
    single_wall_ratios.push_back(one.wall_per_s / b.wall_per_s);
    cpu_ratios.push_back(s.cpu_per_s / b.cpu_per_s);
    wall_ratios.push_back(s.wall_per_s / b.wall_per_s);
    std::printf(
        "round %d: bulk %.0f deals/s CPU (%.0f wall); one per message %.0f deals/s CPU (%.0f "
        "wall) = %.2fx CPU, %.2fx wall; batch_size %d %.0f deals/s CPU (%.0f wall) = %.2fx "
        "CPU, %.2fx wall; %lld / %lld deals\n",
        r + 1, b.cpu_per_s, b.wall_per_s, one.cpu_per_s, one.wall_per_s, single_cpu_ratios.back(),
        single_wall_ratios.back(), batch, s.cpu_per_s, s.wall_per_s, cpu_ratios.back(),
        wall_ratios.back(), static_cast<long long>(single_read), static_cast<long long>(read));
  }
  auto spread = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return absl::StrFormat("%.2f-%.2f", v.front(), v.back());
  };
  std::printf(
      "median stream / bulk, one deal per message = %.2fx CPU (range %s), %.2fx wall (range "
      "%s)\n",
      Median(single_cpu_ratios), spread(single_cpu_ratios).c_str(), Median(single_wall_ratios),
      spread(single_wall_ratios).c_str());
  std::printf("median stream / bulk, batch_size %d = %.2fx CPU (range %s), %.2fx wall (range %s)\n",
              batch, Median(cpu_ratios), spread(cpu_ratios).c_str(), Median(wall_ratios),
              spread(wall_ratios).c_str());

  // Memory during one stream.
  const int64_t before = RssBytes();
  std::atomic<bool> done{false};
  std::atomic<int64_t> peak{before};
  std::thread sampler([&] {
    while (!done.load()) {
      const int64_t rss = RssBytes();
      if (rss > peak.load()) peak = rss;
      absl::SleepFor(absl::Milliseconds(2));
    }
  });
  int64_t read = 0;
  stream(batch, &read);
  done = true;
  sampler.join();
  const int64_t growth = peak.load() - before;
  std::printf(
      "memory: RSS %.1f MiB before the stream, peak growth %.1f MiB during it; all %lld "
      "streamed results are %.1f MiB serialized (growth / results = %.2f)\n",
      static_cast<double>(before) / (1 << 20), static_cast<double>(growth) / (1 << 20),
      static_cast<long long>(read), static_cast<double>(result_bytes) / (1 << 20),
      result_bytes > 0 ? static_cast<double>(growth) / static_cast<double>(result_bytes) : 0);
  return 0;
}

// p50 / p99 (microseconds) of `latencies`.
std::pair<double, double> Percentiles(std::vector<double> latencies) {
  std::sort(latencies.begin(), latencies.end());
  if (latencies.empty()) return {0, 0};
  auto at = [&](double q) {
    return latencies[std::min(latencies.size() - 1,
                              static_cast<size_t>(q * static_cast<double>(latencies.size())))];
  };
  return {at(0.50), at(0.99)};
}

// GetCoachingAgenda for one rep who owns `deals` deals (the rep's whole team) against
// GetDealGuidance for one of them, sequential calls from one client, alternating blocks of
// 50 so both see the same load.
int Agenda(int64_t deals_count, int calls) {
  OpportunityGenerator generator(23);
  std::vector<v1::Opportunity> deals = generator.MakeMany(0, deals_count);
  for (v1::Opportunity& o : deals) {
    o.mutable_owner()->set_id("rep-agenda");
    o.mutable_owner()->set_name("Agenda Rep");
    o.mutable_owner()->set_manager_id("mgr-agenda");
    o.mutable_owner()->set_team("team-agenda");
  }
  std::unique_ptr<Served> served = Serve(deals, generator.now(), 23);
  if (served == nullptr) return 1;
  const std::string deal_id = deals[deals.size() / 2].id();
  std::vector<double> agenda_us;
  std::vector<double> guidance_us;
  auto agenda = [&] {
    v1::GetCoachingAgendaRequest req;
    req.set_rep_id("rep-agenda");
    grpc::ClientContext ctx;
    v1::GetCoachingAgendaResponse resp;
    const absl::Time t0 = absl::Now();
    grpc::Status st = served->coaching->GetCoachingAgenda(&ctx, req, &resp);
    agenda_us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
    if (!st.ok()) std::fprintf(stderr, "agenda: %s\n", st.error_message().c_str());
  };
  auto guidance = [&] {
    v1::GetDealGuidanceRequest req;
    req.set_opportunity_id(deal_id);
    grpc::ClientContext ctx;
    v1::GetDealGuidanceResponse resp;
    const absl::Time t0 = absl::Now();
    grpc::Status st = served->coaching->GetDealGuidance(&ctx, req, &resp);
    guidance_us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
    if (!st.ok()) std::fprintf(stderr, "guidance: %s\n", st.error_message().c_str());
  };
  for (int i = 0; i < 20; ++i) {  // warm-up
    agenda();
    guidance();
  }
  agenda_us.clear();
  guidance_us.clear();
  for (int done = 0; done < calls; done += 50) {
    for (int i = 0; i < 50; ++i) agenda();
    for (int i = 0; i < 50; ++i) guidance();
  }
  const auto [a50, a99] = Percentiles(agenda_us);
  const auto [g50, g99] = Percentiles(guidance_us);
  std::printf(
      "agenda: one rep with %lld deals, %zu calls each: GetCoachingAgenda p50 %.0f us p99 %.0f "
      "us; GetDealGuidance p50 %.0f us p99 %.0f us; agenda p99 / guidance p99 = %.2fx\n",
      static_cast<long long>(deals_count), agenda_us.size(), a50, a99, g50, g99, a99 / g99);
  return 0;
}

}  // namespace
}  // namespace dealcoach::bench

int main(int argc, char** argv) {
  int64_t count = 100000;
  int rounds = 3;
  int64_t agenda_deals = 0;
  int calls = 1000;
  int batch = 32;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--count" && absl::SimpleAtoi(argv[i + 1], &count) && count > 0) continue;
    if (arg == "--rounds" && absl::SimpleAtoi(argv[i + 1], &rounds) && rounds > 0) continue;
    if (arg == "--agenda" && absl::SimpleAtoi(argv[i + 1], &agenda_deals) && agenda_deals > 0) {
      continue;
    }
    if (arg == "--batch" && absl::SimpleAtoi(argv[i + 1], &batch) && batch > 1) continue;
    if (arg == "--calls" && absl::SimpleAtoi(argv[i + 1], &calls) && calls > 0) continue;
    std::fprintf(
        stderr,
        "usage: stream_bench [--count N] [--rounds R] [--batch B] | --agenda DEALS [--calls C]\n");
    return 2;
  }
  if (agenda_deals > 0) return dealcoach::bench::Agenda(agenda_deals, calls);
  return dealcoach::bench::Run(count, rounds, batch);
}
