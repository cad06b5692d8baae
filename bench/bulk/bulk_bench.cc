// bulk_bench: bulk evaluation throughput and the memory cost of the opportunity cache.
//
//   bulk_bench [--count N] [--threads T] [--repeats R] [--playbook FILE] [--out FILE]
//
// 1. Cache memory, each layout in a fresh forked child (freed heap from one measurement
//    would otherwise be reused by the next and hide its cost): current RSS (/proc/self/statm)
//    before and after holding N generated opportunities.
//    overhead per opportunity = (RSS delta - sum of ByteSizeLong) / N: what each cached
//    opportunity costs beyond its own data. `sidecar_source`, the headline, is the
//    sidecar's own cache: a source::OpportunitySource filled by one SyncOnce() from an
//    in-process connector, normalised as the server does (serialized bytes per id plus a
//    bounded LRU of parsed messages). It also reports what a lookup costs when the LRU
//    has the parsed message and when it must parse the bytes, and the RSS the full LRU
//    adds. Comparison layouts, at N/4, in an absl::flat_hash_map keyed by id:
//    `shared_ptr_message` (a heap-allocated message per id, the sidecar's layout before
//    issue #5: object headers, std::string and repeated field headers, Timestamp
//    sub-messages, allocator slack, shared_ptr control block, hash-map slot), the message
//    on its own protobuf Arena, and the serialized bytes only. `projected_message` is the
//    shared_ptr layout with the activities dropped after normalisation (its data_bytes
//    are its own, smaller, serialized size).
// 2. Throughput: the N opportunities evaluated against one shared const CompiledPlaybook
//    on 1 thread, then on T threads (std::thread, work handed out in chunks through an
//    atomic counter); best of R repeats each; speedup = T-thread rate / 1-thread rate.
// 3. Peak RSS of the process (getrusage ru_maxrss).
// The result is one JSON object on stdout (or in --out).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/common/opportunity_generator.h"
#include "connectors/connector.h"
#include "google/protobuf/arena.h"
#include "nlohmann/json.hpp"
#include "sidecar/engine/engine.h"
#include "sidecar/source/opportunity_source.h"

namespace dealcoach::bench {
namespace {

int64_t CurrentRssBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

int64_t PeakRssBytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct Options {
  int64_t count = 100000;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int repeats = 3;
  std::string playbook = DEALCOACH_SOURCE_DIR "/config/playbooks/customer-journey.yaml";
  std::string out;
};

// A Connector serving `count` generated opportunities (seed 11, as MeasureCache uses).
class GeneratedConnector : public connectors::Connector {
 public:
  explicit GeneratedConnector(int64_t count) : count_(count) {}
  absl::string_view type() const override { return "generated"; }
  absl::StatusOr<v1::Opportunity> FetchOpportunity(absl::string_view id, absl::Time) override {
    return absl::NotFoundError(absl::StrCat("generated: no opportunity ", id));
  }
  absl::StatusOr<connectors::SyncResult> SyncChangedSince(
      absl::Time, const std::function<absl::Status(v1::Opportunity)>& sink) override {
    OpportunityGenerator gen(11);
    connectors::SyncResult r;
    for (int64_t i = 0; i < count_; ++i) {
      if (absl::Status s = sink(gen.Make(i)); !s.ok()) return s;
      ++r.count;
    }
    r.high_water_mark = absl::Now();
    return r;
  }
  connectors::ConnectorHealth Health() const override {
    connectors::ConnectorHealth h;
    h.healthy = true;
    h.detail = "ok";
    h.last_success = absl::Now();
    return h;
  }

 private:
  int64_t count_;
};

// Builds the cache layout `kind` for `count` opportunities and reports its memory.
nlohmann::json MeasureCache(const std::string& kind, int64_t count) {
  OpportunityGenerator gen(11);
  int64_t data_bytes = 0;
  const int64_t before = CurrentRssBytes();
  const auto start = std::chrono::steady_clock::now();
  int64_t after = 0;
  nlohmann::json extra = nlohmann::json::object();
  if (kind == "sidecar_source") {
    // The sidecar's own cache: a real OpportunitySource over an in-process connector that
    // delivers the generated opportunities in one sync pass, normalised as the server
    // does.
    const int64_t n = std::min<int64_t>(count, 20000);  // ids looked up below
    source::SourceOptions options;
    options.background_sync = false;
    options.normalize = engine::NormalizeOpportunity;
    // The default LRU size, or less when there are too few ids to miss it (short runs).
    options.parsed_cache_entries =
        std::min<size_t>(options.parsed_cache_entries, static_cast<size_t>(n / 2));
    auto connector = std::make_unique<GeneratedConnector>(count);
    std::unique_ptr<source::OpportunitySource> cache =
        source::OpportunitySource::Create(std::move(connector), options);
    if (!cache->SyncOnce().ok() || cache->size() != static_cast<size_t>(count)) {
      return {{"layout", kind}, {"error", "sync did not cache every opportunity"}};
    }
    after = CurrentRssBytes();
    std::vector<std::string> ids;
    ids.reserve(static_cast<size_t>(n));
    OpportunityGenerator again(11);
    for (int64_t i = 0; i < count; ++i) {
      v1::Opportunity opp = again.Make(i);
      engine::NormalizeOpportunity(&opp);
      data_bytes += static_cast<int64_t>(opp.ByteSizeLong());
      if (i < n) ids.push_back(opp.id());
    }
    // Lookup cost, in the steady state of a sidecar whose parsed LRU is full: a first, untimed pass
    // over the distinct ids fills it; the timed second pass then parses every id again (each was
    // evicted since) and evicts another, and the last loop asks for one id over and over (an LRU
    // hit).
    const int64_t before_lookups = CurrentRssBytes();
    const absl::Time now = absl::Now();
    int64_t sink = 0;
    auto lookup = [&](const std::string& id) {
      absl::StatusOr<source::Lookup> got = cache->Get(id, now);
      if (!got.ok()) return false;
      sink += got->opportunity->contacts_size();
      return true;
    };
    for (const std::string& id : ids) {
      if (!lookup(id)) return {{"layout", kind}, {"error", "lookup failed: " + id}};
    }
    extra["parsed_lru_rss_bytes"] = CurrentRssBytes() - before_lookups;
    extra["parsed_lru_entries"] = options.parsed_cache_entries;
    auto t0 = std::chrono::steady_clock::now();
    for (const std::string& id : ids) {
      if (!lookup(id)) return {{"layout", kind}, {"error", "lookup failed: " + id}};
    }
    auto t1 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < n; ++i) {
      if (!lookup(ids[0])) return {{"layout", kind}, {"error", "lookup failed: " + ids[0]}};
    }
    auto t2 = std::chrono::steady_clock::now();
    if (sink < 0) std::fprintf(stderr, "impossible\n");
    extra["lookup_ns_parsed_lru_miss"] = Seconds(t0, t1) * 1e9 / static_cast<double>(n);
    extra["lookup_ns_parsed_lru_hit"] = Seconds(t1, t2) * 1e9 / static_cast<double>(n);
  } else if (kind == "shared_ptr_message") {
    absl::flat_hash_map<std::string, std::shared_ptr<const v1::Opportunity>> cache;
    for (int64_t i = 0; i < count; ++i) {
      auto opp = std::make_shared<v1::Opportunity>(gen.Make(i));
      data_bytes += static_cast<int64_t>(opp->ByteSizeLong());
      std::string id = opp->id();
      cache.emplace(std::move(id), std::move(opp));
    }
    after = CurrentRssBytes();
  } else if (kind == "projected_message") {
    // The remedy the docs discuss: after NormalizeOpportunity has summarised them into
    // last_meeting_at / last_activity_at, no shipped playbook condition reads the
    // activities, so the cache can drop them.
    absl::flat_hash_map<std::string, std::shared_ptr<const v1::Opportunity>> cache;
    for (int64_t i = 0; i < count; ++i) {
      v1::Opportunity full = gen.Make(i);
      engine::NormalizeOpportunity(&full);
      full.clear_activities();  // keeps the cleared elements allocated: copy out instead
      auto opp = std::make_shared<v1::Opportunity>();
      opp->CopyFrom(full);
      data_bytes += static_cast<int64_t>(opp->ByteSizeLong());
      std::string id = opp->id();
      cache.emplace(std::move(id), std::move(opp));
    }
    after = CurrentRssBytes();
  } else if (kind == "arena_message") {
    struct Entry {
      std::unique_ptr<google::protobuf::Arena> arena;
      const v1::Opportunity* opp;
    };
    absl::flat_hash_map<std::string, std::shared_ptr<const Entry>> cache;
    google::protobuf::ArenaOptions arena_options;
    arena_options.start_block_size = 1024;
    arena_options.max_block_size = 16384;
    for (int64_t i = 0; i < count; ++i) {
      v1::Opportunity source = gen.Make(i);
      auto entry = std::make_shared<Entry>();
      entry->arena = std::make_unique<google::protobuf::Arena>(arena_options);
      auto* opp = google::protobuf::Arena::CreateMessage<v1::Opportunity>(entry->arena.get());
      *opp = source;
      entry->opp = opp;
      data_bytes += static_cast<int64_t>(opp->ByteSizeLong());
      cache.emplace(source.id(), std::move(entry));
    }
    after = CurrentRssBytes();
  } else {  // serialized_bytes
    absl::flat_hash_map<std::string, std::shared_ptr<const std::string>> cache;
    for (int64_t i = 0; i < count; ++i) {
      v1::Opportunity opp = gen.Make(i);
      auto bytes = std::make_shared<std::string>(opp.SerializeAsString());
      data_bytes += static_cast<int64_t>(bytes->size());
      cache.emplace(opp.id(), std::move(bytes));
    }
    after = CurrentRssBytes();
  }
  const double build_s = Seconds(start, std::chrono::steady_clock::now());
  const int64_t delta = after - before;
  nlohmann::json result = {
      {"layout", kind},
      {"opportunities", count},
      {"rss_before_bytes", before},
      {"rss_after_bytes", after},
      {"rss_delta_bytes", delta},
      {"data_bytes", data_bytes},
      {"data_bytes_per_opportunity", static_cast<double>(data_bytes) / count},
      {"rss_per_opportunity_bytes", static_cast<double>(delta) / count},
      {"overhead_per_opportunity_bytes", static_cast<double>(delta - data_bytes) / count},
      {"peak_rss_bytes", PeakRssBytes()},
      {"build_s", build_s}};
  result.update(extra);
  return result;
}

// Runs MeasureCache in a forked child so that every layout starts from the same, fresh
// heap; the child sends its JSON back through a pipe. Runs before any thread exists.
nlohmann::json MeasureCacheInChild(const std::string& kind, int64_t count) {
  int fds[2];
  if (pipe(fds) != 0) return {{"layout", kind}, {"error", "pipe failed"}};
  const pid_t pid = fork();
  if (pid < 0) return {{"layout", kind}, {"error", "fork failed"}};
  if (pid == 0) {
    close(fds[0]);
    const std::string text = MeasureCache(kind, count).dump();
    size_t off = 0;
    while (off < text.size()) {
      const ssize_t n = write(fds[1], text.data() + off, text.size() - off);
      if (n <= 0) _exit(1);
      off += static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  nlohmann::json result = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (result.is_discarded() || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return {{"layout", kind}, {"error", "measurement child failed"}};
  }
  return result;
}

// Evaluates every opportunity once on `threads` threads; returns opportunities/second.
double EvaluateAll(const engine::CompiledPlaybook& pb, const std::vector<v1::Opportunity>& opps,
                   int threads) {
  constexpr size_t kChunk = 256;
  std::atomic<size_t> next{0};
  std::atomic<int64_t> behaviors{0};
  const absl::Time now = BenchNow();
  // Each worker builds answers on its own arena (first block a reused buffer), reset per
  // opportunity: the pipeline worker's way, with no malloc/free traffic shared between
  // threads.
  auto worker = [&] {
    std::vector<char> block(256 * 1024);
    google::protobuf::ArenaOptions arena_options;
    arena_options.initial_block = block.data();
    arena_options.initial_block_size = block.size();
    google::protobuf::Arena arena(arena_options);
    int64_t local = 0;
    while (true) {
      const size_t begin = next.fetch_add(kChunk);
      if (begin >= opps.size()) break;
      const size_t end = std::min(opps.size(), begin + kChunk);
      for (size_t i = begin; i < end; ++i) {
        auto* g = google::protobuf::Arena::CreateMessage<v1::DealGuidance>(&arena);
        pb.EvaluateInto(opps[i], now, {}, g);
        local += g->next_best_behaviors_size();  // keeps the work observable
        arena.Reset();
      }
    }
    behaviors += local;
  };
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  const double s = Seconds(start, std::chrono::steady_clock::now());
  if (behaviors.load() < 0) std::fprintf(stderr, "impossible\n");
  return static_cast<double>(opps.size()) / s;
}

int Run(const Options& o) {
  nlohmann::json out;
  out["opportunities"] = o.count;
  out["threads"] = o.threads;
  out["hardware_concurrency"] = std::thread::hardware_concurrency();
  out["repeats"] = o.repeats;
  out["rss_at_start_bytes"] = CurrentRssBytes();

  // Cache memory first, each layout in its own child process.
  nlohmann::json cache = nlohmann::json::array();
  for (const char* kind : {"sidecar_source", "shared_ptr_message", "arena_message",
                           "serialized_bytes", "projected_message"}) {
    // The sidecar's layout at full size; the comparison layouts at a quarter (the
    // per-opportunity figures do not depend on the count) to keep the run short.
    const bool headline = std::string(kind) == "sidecar_source";
    cache.push_back(
        MeasureCacheInChild(kind, headline ? o.count : std::max<int64_t>(1, o.count / 4)));
    if (cache.back().contains("error")) {
      std::fprintf(stderr, "bulk_bench: cache %s: %s\n", kind,
                   cache.back()["error"].get<std::string>().c_str());
      return 1;
    }
    std::fprintf(stderr, "bulk_bench: cache %s: %.0f B/opportunity overhead\n", kind,
                 cache.back()["overhead_per_opportunity_bytes"].get<double>());
  }
  out["cache"] = cache;
  // The sidecar's layout is the headline figure.
  out["peak_rss_with_cache_bytes"] = cache[0]["peak_rss_bytes"];
  out["cache_overhead_per_opportunity_bytes"] = cache[0]["overhead_per_opportunity_bytes"];

  engine::LoadResult loaded = engine::LoadPlaybookFile(o.playbook);
  if (!loaded.ok()) {
    for (const auto& d : loaded.diagnostics) {
      std::fprintf(stderr, "%s\n", engine::FormatDiagnostic(d).c_str());
    }
    return 1;
  }
  const engine::CompiledPlaybook& pb = *loaded.playbook;
  OpportunityGenerator gen(3);
  std::vector<v1::Opportunity> opps = gen.MakeMany(0, o.count);
  for (v1::Opportunity& opp : opps) engine::NormalizeOpportunity(&opp);

  // Parsing alone: one opportunity from its bytes into a heap message, in a tight loop
  // (the sidecar_source row's lookup_ns_parsed_lru_miss is the whole lookup that parses).
  {
    std::vector<std::string> wire;
    const size_t n = std::min<size_t>(opps.size(), 20000);
    for (size_t i = 0; i < n; ++i) wire.push_back(opps[i].SerializeAsString());
    const auto start = std::chrono::steady_clock::now();
    int64_t contacts = 0;
    for (const std::string& w : wire) {
      v1::Opportunity parsed;
      parsed.ParseFromString(w);
      contacts += parsed.contacts_size();
    }
    const double s = Seconds(start, std::chrono::steady_clock::now());
    out["parse_ns_per_opportunity"] = s * 1e9 / static_cast<double>(n);
    if (contacts < 0) std::fprintf(stderr, "impossible\n");
  }

  // Warm-up: page in the playbook and the allocator's arenas on every thread count.
  {
    std::vector<v1::Opportunity> warm(opps.begin(),
                                      opps.begin() + std::min<int64_t>(o.count, 2000));
    EvaluateAll(pb, warm, 1);
    EvaluateAll(pb, warm, o.threads);
  }
  double best1 = 0, bestn = 0;
  nlohmann::json runs = nlohmann::json::array();
  for (int r = 0; r < o.repeats; ++r) {
    // Interleaved so that background noise hits both configurations alike.
    const double one = EvaluateAll(pb, opps, 1);
    const double many = EvaluateAll(pb, opps, o.threads);
    std::fprintf(stderr, "bulk_bench: 1 thread %.0f/s, %d threads %.0f/s\n", one, o.threads, many);
    runs.push_back({{"one_thread_ops", one}, {"n_threads_ops", many}});
    best1 = std::max(best1, one);
    bestn = std::max(bestn, many);
  }
  out["runs"] = runs;
  out["one_thread_ops_per_s"] = best1;
  out["n_threads_ops_per_s"] = bestn;
  out["speedup"] = bestn / best1;
  out["peak_rss_bytes"] = PeakRssBytes();
  const std::string text = out.dump(2);
  if (o.out.empty()) {
    std::cout << text << "\n";
  } else {
    std::ofstream f(o.out);
    f << text << "\n";
    if (!f) return 1;
  }
  return 0;
}

}  // namespace
}  // namespace dealcoach::bench

int main(int argc, char** argv) {
  dealcoach::bench::Options o;
  for (int i = 1; i < argc; i += 2) {
    const std::string a = argv[i];
    const bool has = i + 1 < argc;
    bool ok = has;
    if (!has) {
    } else if (a == "--count") {
      ok = absl::SimpleAtoi(argv[i + 1], &o.count) && o.count > 0 && o.count <= 10000000;
    } else if (a == "--threads") {
      ok = absl::SimpleAtoi(argv[i + 1], &o.threads) && o.threads > 0 && o.threads <= 256;
    } else if (a == "--repeats") {
      ok = absl::SimpleAtoi(argv[i + 1], &o.repeats) && o.repeats > 0 && o.repeats <= 100;
    } else if (a == "--playbook") {
      o.playbook = argv[i + 1];
    } else if (a == "--out") {
      o.out = argv[i + 1];
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr,
                   "usage: bulk_bench [--count N] [--threads T] [--repeats R] "
                   "[--playbook FILE] [--out FILE]\n");
      return 2;
    }
  }
  return dealcoach::bench::Run(o);
}
