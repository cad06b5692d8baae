// The two ways GetDealGuidance and GetReviewChecklist can be served (services.h,
// ServiceDeps::callback_handlers): gRPC's callback API (the default, no thread hand-off)
// and the sync server's ParsingHandler (`grpc_handlers: sync`). Two sidecars over the
// same shipped playbooks and samples, one of each; every sample, push and by id, both
// playbooks, guidance at two max_behaviors and every checklist must come back as the
// same bytes, and every error with the same code and message.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/test_support.h"

namespace dealcoach::testing {
namespace {

constexpr int64_t kAsOfSeconds = 1795176000;  // 2026-11-20T12:00:00Z

std::string ServerYaml(const std::string& handlers) {
  return absl::StrCat("listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [\"",
                      ShippedPlaybook("customer-journey"), "\", \"", ShippedPlaybook("meddicc"),
                      "\"]\nconnector: {type: file, file: {path: \"", SamplesFile(),
                      "\"}}\nsource: {sync_interval: 1h}\ngrpc_handlers: ", handlers, "\n");
}

// One call's outcome as it came over the wire: the response bytes, or the status.
struct Outcome {
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
  std::string bytes;
};

class RequestPathTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const char* handlers : {"callback", "sync"}) {
      auto s = StartSidecar(ServerYaml(handlers), SourceDir());
      ASSERT_TRUE(s.ok()) << handlers << ": " << s.status();
      channels_.push_back(grpc::CreateChannel((*s)->address(), grpc::InsecureChannelCredentials()));
      sidecars_.push_back(std::move(*s).release());
    }
  }
  static void TearDownTestSuite() {
    channels_.clear();
    for (server::Sidecar* s : sidecars_) delete s;
    sidecars_.clear();
  }

  // Sends `request` (already serialized) to `method` on server `i` and returns the raw
  // answer, so the comparison is of the bytes each handler wrote.
  static Outcome Call(size_t i, const std::string& method, const std::string& request) {
    grpc::GenericStub stub(channels_[i]);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Slice slice(request);
    grpc::ByteBuffer in(&slice, 1);
    grpc::ByteBuffer out;
    grpc::Status status;
    bool done = false;
    std::mutex mu;
    std::condition_variable cv;
    stub.UnaryCall(&ctx, method, grpc::StubOptions(), &in, &out, [&](grpc::Status s) {
      std::lock_guard<std::mutex> lock(mu);
      status = std::move(s);
      done = true;
      cv.notify_one();
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    Outcome o;
    o.code = status.error_code();
    o.message = status.error_message();
    if (status.ok()) {
      std::vector<grpc::Slice> slices;
      EXPECT_TRUE(out.Dump(&slices).ok());
      for (const grpc::Slice& s : slices) o.bytes.append(s.begin(), s.end());
    }
    return o;
  }

  // Both servers answer `request` alike. By id, the freshness block carries each
  // server's own sync time and age and is cleared before comparing; push answers are
  // compared byte for byte as sent.
  template <typename Response>
  static void ExpectSame(const std::string& method, const google::protobuf::Message& request,
                         bool by_id, const std::string& what) {
    ExpectSameBytes<Response>(method, request.SerializeAsString(), by_id, what);
  }
  template <typename Response>
  static void ExpectSameBytes(const std::string& method, const std::string& bytes, bool by_id,
                              const std::string& what) {
    Outcome a = Call(0, method, bytes);
    Outcome b = Call(1, method, bytes);
    ASSERT_EQ(a.code, b.code) << what << ": " << a.message << " | " << b.message;
    EXPECT_EQ(a.message, b.message) << what;
    if (a.code != grpc::StatusCode::OK) return;
    EXPECT_FALSE(a.bytes.empty()) << what;
    if (!by_id) {
      EXPECT_EQ(a.bytes, b.bytes) << what;
      return;
    }
    Response ra, rb;
    ASSERT_TRUE(ra.ParseFromString(a.bytes)) << what;
    ASSERT_TRUE(rb.ParseFromString(b.bytes)) << what;
    ClearFreshness(&ra);
    ClearFreshness(&rb);
    EXPECT_EQ(ra.SerializeAsString(), rb.SerializeAsString()) << what;
  }
  static void ClearFreshness(v1::GetDealGuidanceResponse* r) {
    r->mutable_guidance()->clear_freshness();
  }
  static void ClearFreshness(v1::GetReviewChecklistResponse* r) {
    r->mutable_checklist()->clear_freshness();
  }

  static std::vector<server::Sidecar*> sidecars_;
  static std::vector<std::shared_ptr<grpc::Channel>> channels_;
};

std::vector<server::Sidecar*> RequestPathTest::sidecars_;
std::vector<std::shared_ptr<grpc::Channel>> RequestPathTest::channels_;

const char kGuidance[] = "/dealcoach.v1.CoachingService/GetDealGuidance";
const char kChecklist[] = "/dealcoach.v1.CoachingService/GetReviewChecklist";

TEST_F(RequestPathTest, EverySampleGetsTheSameBytesFromBothHandlers) {
  const std::vector<v1::Opportunity> samples = LoadSamples();
  ASSERT_GT(samples.size(), 5u);
  const std::vector<std::pair<std::string, std::vector<std::string>>> playbooks = {
      {"customer-journey", {"opportunity_review", "forecast_call"}},
      {"meddicc", {"meddicc_review"}}};
  int compared = 0;
  for (const v1::Opportunity& opp : samples) {
    for (const auto& [playbook, checklists] : playbooks) {
      for (bool by_id : {false, true}) {
        for (int max_behaviors : {0, 10}) {
          v1::GetDealGuidanceRequest g;
          if (by_id) {
            g.set_opportunity_id(opp.id());
          } else {
            *g.mutable_opportunity() = opp;
          }
          g.set_playbook(playbook);
          g.set_max_behaviors(max_behaviors);
          g.mutable_as_of()->set_seconds(kAsOfSeconds);
          ExpectSame<v1::GetDealGuidanceResponse>(
              kGuidance, g, by_id,
              absl::StrCat(opp.id(), " ", playbook, by_id ? " by id" : " push", " max ",
                           max_behaviors));
          ++compared;
        }
        for (const std::string& list : checklists) {
          v1::GetReviewChecklistRequest c;
          if (by_id) {
            c.set_opportunity_id(opp.id());
          } else {
            *c.mutable_opportunity() = opp;
          }
          c.set_playbook(playbook);
          c.set_checklist(list);
          c.mutable_as_of()->set_seconds(kAsOfSeconds);
          ExpectSame<v1::GetReviewChecklistResponse>(
              kChecklist, c, by_id,
              absl::StrCat(opp.id(), " ", playbook, " ", list, by_id ? " by id" : " push"));
          ++compared;
        }
      }
    }
  }
  EXPECT_GT(compared, 100);
}

TEST_F(RequestPathTest, ErrorsAreTheSameFromBothHandlers) {
  v1::GetDealGuidanceRequest bad_max;
  bad_max.set_opportunity_id(LoadSamples().front().id());
  bad_max.set_max_behaviors(51);
  ExpectSame<v1::GetDealGuidanceResponse>(kGuidance, bad_max, true, "max_behaviors 51");

  v1::GetDealGuidanceRequest no_target;
  ExpectSame<v1::GetDealGuidanceResponse>(kGuidance, no_target, false, "no target");

  // Not cached: the callback handler hands the call to its pool, which asks the file
  // connector (NotFound).
  v1::GetDealGuidanceRequest unknown;
  unknown.set_opportunity_id("no-such-deal");
  ExpectSame<v1::GetDealGuidanceResponse>(kGuidance, unknown, true, "unknown id");
  Outcome o = Call(0, kGuidance, unknown.SerializeAsString());
  EXPECT_EQ(o.code, grpc::StatusCode::NOT_FOUND) << o.message;

  v1::GetReviewChecklistRequest no_list;
  no_list.set_opportunity_id(LoadSamples().front().id());
  no_list.set_checklist("no_such_list");
  ExpectSame<v1::GetReviewChecklistResponse>(kChecklist, no_list, true, "unknown checklist");

  v1::GetDealGuidanceRequest unknown_playbook;
  unknown_playbook.set_opportunity_id(LoadSamples().front().id());
  unknown_playbook.set_playbook("nope");
  ExpectSame<v1::GetDealGuidanceResponse>(kGuidance, unknown_playbook, true, "unknown playbook");

  // The request limits name where a bad value is (request_limits.cc renders the path
  // only for an error): a map entry by key, a list element by index.
  v1::GetDealGuidanceRequest bad_field = [] {
    v1::GetDealGuidanceRequest r;
    *r.mutable_opportunity() = LoadSamples().front();
    (*r.mutable_opportunity()->mutable_fields())["go_live"].mutable_timestamp_value()->set_seconds(
        -99999999999999);
    return r;
  }();
  ExpectSame<v1::GetDealGuidanceResponse>(kGuidance, bad_field, false, "bad map timestamp");
  Outcome bf = Call(0, kGuidance, bad_field.SerializeAsString());
  EXPECT_EQ(bf.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(
      bf.message.rfind("opportunity.fields[\"go_live\"].value.timestamp_value: not a valid", 0), 0u)
      << bf.message;
  v1::GetDealGuidanceRequest long_name;
  *long_name.mutable_opportunity() = LoadSamples().front();
  long_name.mutable_opportunity()->add_contacts()->set_name(std::string(70000, 'x'));
  Outcome ln = Call(0, kGuidance, long_name.SerializeAsString());
  EXPECT_EQ(ln.code, grpc::StatusCode::INVALID_ARGUMENT);
  const std::string contact = absl::StrCat(
      "opportunity.contacts[", long_name.opportunity().contacts_size() - 1, "].name: 70000 bytes");
  EXPECT_EQ(ln.message.rfind(contact, 0), 0u) << ln.message;
  ExpectSame<v1::GetDealGuidanceResponse>(kGuidance, long_name, false, "long contact name");

  // Bytes that are no GetDealGuidanceRequest: INVALID_ARGUMENT from ParseRequest on both.
  const std::string garbage = "\x0a\xff\xff\xff\xff\x0f";
  Outcome ga = Call(0, kGuidance, garbage);
  Outcome gb = Call(1, kGuidance, garbage);
  EXPECT_EQ(ga.code, grpc::StatusCode::INVALID_ARGUMENT) << ga.message;
  EXPECT_EQ(ga.code, gb.code);
  EXPECT_EQ(ga.message, gb.message);
}

// The callback handlers parse into one reused request message per thread, whose inline
// Opportunity is kept between calls and put back, empty, before each parse
// (services.cc, RequestSlot). Whatever came before, every call must be answered as a
// freshly parsed request is by the sync handler: a deal after a larger one, a request
// that names no target or an empty opportunity after a pushed deal, and the oneof's
// last-one-wins when the bytes carry both an id and a deal, in either order. Twenty
// rounds, so that each of the callback server's threads meets every case.
TEST_F(RequestPathTest, AReusedRequestMessageForgetsTheLastDeal) {
  const std::vector<v1::Opportunity> samples = LoadSamples();
  ASSERT_GT(samples.size(), 2u);
  auto by_size = [](const v1::Opportunity& a, const v1::Opportunity& b) {
    return a.ByteSizeLong() < b.ByteSizeLong();
  };
  auto largest = std::max_element(samples.begin(), samples.end(), by_size);
  auto smallest = std::min_element(samples.begin(), samples.end(), by_size);
  ASSERT_GT(largest->activities_size(), smallest->activities_size());
  auto push = [](const v1::Opportunity& opp) {
    v1::GetDealGuidanceRequest r;
    *r.mutable_opportunity() = opp;
    r.mutable_as_of()->set_seconds(kAsOfSeconds);
    r.set_max_behaviors(10);
    return r.SerializeAsString();
  };
  auto by_id = [](const std::string& id) {
    v1::GetDealGuidanceRequest r;
    r.set_opportunity_id(id);
    r.mutable_as_of()->set_seconds(kAsOfSeconds);
    r.set_max_behaviors(10);
    return r.SerializeAsString();
  };
  const std::string no_target = [] {
    v1::GetDealGuidanceRequest r;
    r.mutable_as_of()->set_seconds(kAsOfSeconds);
    return r.SerializeAsString();
  }();
  const std::string empty_deal = [] {
    v1::GetDealGuidanceRequest r;
    r.mutable_opportunity();
    r.mutable_as_of()->set_seconds(kAsOfSeconds);
    return r.SerializeAsString();
  }();
  ASSERT_NE(no_target, empty_deal);
  v1::GetReviewChecklistRequest list;
  *list.mutable_opportunity() = *largest;
  list.set_checklist("opportunity_review");
  list.mutable_as_of()->set_seconds(kAsOfSeconds);
  v1::GetReviewChecklistRequest list_no_target;
  list_no_target.set_checklist("opportunity_review");
  for (int round = 0; round < 20; ++round) {
    const std::string n = absl::StrCat(" (round ", round, ")");
    ExpectSameBytes<v1::GetDealGuidanceResponse>(kGuidance, push(*largest), false, "largest" + n);
    ExpectSameBytes<v1::GetDealGuidanceResponse>(kGuidance, push(*smallest), false,
                                                 "smallest after largest" + n);
    ExpectSameBytes<v1::GetDealGuidanceResponse>(kGuidance, no_target, false,
                                                 "no target after a deal" + n);
    ExpectSameBytes<v1::GetDealGuidanceResponse>(kGuidance, push(*largest), false, "largest" + n);
    ExpectSameBytes<v1::GetDealGuidanceResponse>(kGuidance, empty_deal, false,
                                                 "empty opportunity after a deal" + n);
    // Concatenated messages merge: of the oneof's two members, the last one parsed wins.
    ExpectSameBytes<v1::GetDealGuidanceResponse>(kGuidance, push(*largest) + by_id(smallest->id()),
                                                 true, "deal, then id" + n);
    ExpectSameBytes<v1::GetDealGuidanceResponse>(kGuidance, by_id(largest->id()) + push(*smallest),
                                                 false, "id, then deal" + n);
    ExpectSameBytes<v1::GetDealGuidanceResponse>(kGuidance, by_id(smallest->id()), true,
                                                 "by id" + n);
    ExpectSame<v1::GetReviewChecklistResponse>(kChecklist, list, false, "checklist push" + n);
    ExpectSame<v1::GetReviewChecklistResponse>(kChecklist, list_no_target, false,
                                               "checklist, no target" + n);
  }
  // The answers themselves, not only their agreement: the empty deal and the missing
  // target are not the same call.
  Outcome none = Call(0, kGuidance, no_target);
  EXPECT_EQ(none.code, grpc::StatusCode::INVALID_ARGUMENT) << none.message;
  Outcome after = Call(0, kGuidance, push(*smallest));
  ASSERT_EQ(after.code, grpc::StatusCode::OK) << after.message;
  v1::GetDealGuidanceResponse answer;
  ASSERT_TRUE(answer.ParseFromString(after.bytes));
  EXPECT_EQ(answer.guidance().opportunity_id(), smallest->id());
}

// Many calls at once, cache hits and misses mixed: each answered with its own deal or
// NotFound (nothing shared between concurrent callback calls and the pool).
TEST_F(RequestPathTest, ConcurrentCallsOnTheCallbackPath) {
  const std::vector<v1::Opportunity> samples = LoadSamples();
  v1::GetDealGuidanceRequest first;
  first.set_opportunity_id(samples.front().id());
  first.mutable_as_of()->set_seconds(kAsOfSeconds);
  Outcome alone = Call(0, kGuidance, first.SerializeAsString());
  ASSERT_EQ(alone.code, grpc::StatusCode::OK) << alone.message;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t]() {
      for (int i = 0; i < 50; ++i) {
        if ((i + t) % 5 == 0) {
          v1::GetDealGuidanceRequest miss;
          miss.set_opportunity_id(absl::StrCat("missing-", t, "-", i));
          if (Call(0, kGuidance, miss.SerializeAsString()).code != grpc::StatusCode::NOT_FOUND) {
            ++failures;
          }
          continue;
        }
        Outcome o = Call(0, kGuidance, first.SerializeAsString());
        v1::GetDealGuidanceResponse r;
        if (o.code != grpc::StatusCode::OK || !r.ParseFromString(o.bytes) ||
            r.guidance().opportunity_id() != first.opportunity_id()) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace dealcoach::testing
