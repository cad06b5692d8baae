// sync_bench: how fast the Salesforce adapter turns a full sync into opportunities, and
// how cheap a cached lookup is.
//
//   sync_bench [--deals=10000] [--page=2000] [--lookups=1000000] [--threads=1]
//
// A local FakeSalesforce (loopback HTTP, real JSON wire format, pages of `page` records
// linked by nextRecordsUrl like Salesforce) holds `deals` opportunities, each with two
// contact roles, a task, an event and three history rows. The timed part is
// SalesforceConnector::SyncChangedSince from scratch (token, query, every page, JSON
// parse, YAML-driven mapping) -- it includes the fake server's own JSON serialisation,
// so it is a lower bound on the adapter's throughput. Then an OpportunitySource over
// the same connector is synced once and Get() is timed on random cached ids.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "connectors/salesforce/salesforce_connector.h"
#include "connectors/salesforce/testing/fake_salesforce.h"
#include "sidecar/source/opportunity_source.h"

namespace dealcoach {
namespace {

using connectors::salesforce::FakeSalesforce;
using connectors::salesforce::SalesforceConnector;
using connectors::salesforce::SalesforceOptions;

int64_t Flag(int argc, char** argv, absl::string_view name, int64_t dflt) {
  const std::string prefix = absl::StrCat("--", name, "=");
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    int64_t v = 0;
    if (absl::StartsWith(arg, prefix) && absl::SimpleAtoi(arg.substr(prefix.size()), &v)) return v;
  }
  return dflt;
}

std::unique_ptr<SalesforceConnector> Connect(const FakeSalesforce& sf, int page) {
  SalesforceOptions o;
  o.login_url = sf.base_url();
  o.client_id = FakeSalesforce::kClientId;
  o.client_secret = FakeSalesforce::kClientSecret;
  o.page_size = page;
  o.mapping = *connectors::OpportunityMapping::Parse(connectors::salesforce::kDefaultMappingYaml,
                                                     "default_mapping.yaml");
  o.resilience.rate_limit.requests_per_second = 0;  // measure the adapter, not the budget
  auto c = SalesforceConnector::Create(std::move(o));
  if (!c.ok()) {
    std::fprintf(stderr, "sync_bench: %s\n", c.status().ToString().c_str());
    std::exit(1);
  }
  return *std::move(c);
}

int Main(int argc, char** argv) {
  const int deals = static_cast<int>(Flag(argc, argv, "deals", 10000));
  const int page = static_cast<int>(Flag(argc, argv, "page", 2000));
  const int64_t lookups = Flag(argc, argv, "lookups", 1000000);
  const int threads = static_cast<int>(Flag(argc, argv, "threads", 1));

  FakeSalesforce sf;
  if (!sf.Start().ok()) return 1;
  for (int i = 0; i < deals; ++i) {
    const int64_t secs = 1790000000 + i;  // distinct, increasing SystemModstamps
    sf.Upsert(FakeSalesforce::MakeOpportunity(
        i, absl::FormatTime("%Y-%m-%dT%H:%M:%S.000+0000", absl::FromUnixSeconds(secs),
                            absl::UTCTimeZone())));
  }

  // 1. Full sync through the adapter (best of 3).
  double best_rate = 0;
  absl::Duration best_time = absl::InfiniteDuration();
  for (int round = 0; round < 3; ++round) {
    auto sfc = Connect(sf, page);
    int64_t contacts = 0;
    const absl::Time start = absl::Now();
    auto result = sfc->SyncChangedSince(absl::InfinitePast(), [&](v1::Opportunity opp) {
      contacts += opp.contacts_size();
      return absl::OkStatus();
    });
    const absl::Duration took = absl::Now() - start;
    if (!result.ok() || result->count != deals || contacts != 2 * int64_t{deals}) {
      std::fprintf(stderr, "sync_bench: sync failed or incomplete: %s\n",
                   result.ok() ? absl::StrCat(result->count, " deals").c_str()
                               : result.status().ToString().c_str());
      return 1;
    }
    const double rate = deals / absl::ToDoubleSeconds(took);
    if (rate > best_rate) {
      best_rate = rate;
      best_time = took;
    }
  }
  std::printf("salesforce full sync: %d deals, pages of %d: %s (best of 3), %.0f opportunities/s\n",
              deals, page, absl::FormatDuration(best_time).c_str(), best_rate);

  // 2. Cached lookups through OpportunitySource.
  source::SourceOptions so;
  so.background_sync = false;
  auto src = source::OpportunitySource::Create(Connect(sf, page), so);
  if (!src->SyncOnce().ok() || src->size() != static_cast<size_t>(deals)) {
    std::fprintf(stderr, "sync_bench: source sync failed\n");
    return 1;
  }
  std::vector<std::string> ids;
  for (int i = 0; i < deals; ++i) ids.push_back(FakeSalesforce::OpportunityId(i));
  std::atomic<int64_t> misses{0};
  std::vector<std::thread> workers;
  const int64_t per_thread = lookups / threads;
  const absl::Time start = absl::Now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937 rng(t + 1);
      std::uniform_int_distribution<int> pick(0, deals - 1);
      const absl::Time now = absl::Now();
      for (int64_t i = 0; i < per_thread; ++i) {
        auto got = src->Get(ids[pick(rng)], now);
        if (!got.ok()) ++misses;
      }
    });
  }
  for (auto& w : workers) w.join();
  const absl::Duration took = absl::Now() - start;
  const int64_t total = per_thread * threads;
  std::printf(
      "OpportunitySource::Get (cached, %d thread%s): %lld lookups in %s, %.0f ns/lookup "
      "per thread, %.2f M lookups/s\n",
      threads, threads == 1 ? "" : "s", static_cast<long long>(total),  // NOLINT
      absl::FormatDuration(took).c_str(),
      absl::ToDoubleNanoseconds(took) * threads / static_cast<double>(total),
      static_cast<double>(total) / absl::ToDoubleSeconds(took) / 1e6);
  if (misses.load() != 0) {
    std::fprintf(stderr, "sync_bench: %lld lookups failed\n",
                 static_cast<long long>(misses.load()));  // NOLINT
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace dealcoach

int main(int argc, char** argv) { return dealcoach::Main(argc, argv); }
