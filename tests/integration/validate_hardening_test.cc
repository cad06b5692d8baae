// PlaybookService.ValidatePlaybook is pure: over real gRPC on loopback, requests whose
// file_name or tests name files (absolute paths, "..", an embedded NUL, /dev/zero, a
// FIFO) are answered promptly without a single file being opened (watched with
// inotify), nothing of those files leaks into the answer, YAML bombs are refused with a
// clear diagnostic, and memory stays bounded; the server is still SERVING afterwards.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "dealcoach/v1/playbook_service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/test_support.h"

namespace dealcoach::testing {
namespace {

constexpr char kSecret[] = "hunter2-do-not-leak";

// The peak-RSS bound these tests assert: 64 MiB in a plain build. AddressSanitizer's
// shadow memory and freed-memory quarantine (256 MiB by default) add to every allocation,
// so the sanitizer build allows four times as much; it still catches an expansion, which
// costs gigabytes.
#if defined(__SANITIZE_ADDRESS__)
constexpr int64_t kRssBoundKib = 4 * 64 * 1024;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr int64_t kRssBoundKib = 4 * 64 * 1024;
#else
constexpr int64_t kRssBoundKib = 64 * 1024;
#endif
#else
constexpr int64_t kRssBoundKib = 64 * 1024;
#endif

// VmHWM (peak resident set) of this process, in KiB.
int64_t PeakRssKib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "VmHWM:")) {
      int64_t kib = 0;
      std::string digits;
      for (char c : line) {
        if (c >= '0' && c <= '9') digits += c;
      }
      if (absl::SimpleAtoi(digits, &kib)) return kib;
    }
  }
  return -1;
}

std::string Playbook(const std::string& tests = "") {
  return absl::StrCat(
      "apiVersion: dealcoach/v1\nkind: Playbook\nmetadata: {name: mini, version: 1}\n"
      "phases: [{id: a, crm_stages: [Prospecting]}]\n",
      tests);
}

std::string FileTest(const std::string& file) {
  return absl::StrCat("  - name: from ", file, "\n    now: 2026-11-20T12:00:00Z\n",
                      "    opportunity_file: \"", file, "\"\n    expect: {phase: a}\n");
}

class ValidateHardeningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s =
        StartSidecar(absl::StrCat("listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [\"",
                                  ShippedPlaybook("customer-journey"),
                                  "\"]\nconnector: {type: file, file: {path: \"", SamplesFile(),
                                  "\"}}\nsource: {sync_interval: 1h}\n"),
                     SourceDir());
    ASSERT_TRUE(s.ok()) << s.status();
    sidecar_ = *std::move(s);
    channel_ = grpc::CreateChannel(sidecar_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::PlaybookService::NewStub(channel_);

    // Bait: files an old, file-reading ValidatePlaybook would open.
    dir_ = temp_.path();
    temp_.Write("p.yaml", Playbook());
    temp_.Write("p_test.yaml", absl::StrCat("SECRET_KEY: ", kSecret, "\ntests: []\n"));
    temp_.Write("opp.json", absl::StrCat("{\"id\": \"", kSecret, "\", \"amout\": 1}"));
    ASSERT_EQ(mkfifo((dir_ + "/fifo_test.yaml").c_str(), 0600), 0);
    ASSERT_EQ(mkfifo((dir_ + "/opp.fifo").c_str(), 0600), 0);
    inotify_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    ASSERT_GE(inotify_, 0);
    ASSERT_GE(inotify_add_watch(inotify_, dir_.c_str(), IN_OPEN | IN_ACCESS), 0);
  }
  void TearDown() override {
    if (inotify_ >= 0) close(inotify_);
    if (sidecar_ != nullptr) {
      sidecar_->Shutdown(absl::Seconds(1));
      sidecar_->Wait();
    }
  }

  // Events since the watch started (each open or read of a file in dir_).
  int FileEvents() {
    char buf[4096];
    int events = 0;
    ssize_t n;
    while ((n = read(inotify_, buf, sizeof(buf))) > 0) {
      for (char* p = buf; p < buf + n;) {
        auto* e = reinterpret_cast<inotify_event*>(p);
        ++events;
        ADD_FAILURE() << "ValidatePlaybook touched " << dir_ << "/" << (e->len ? e->name : "");
        p += sizeof(inotify_event) + e->len;
      }
    }
    return events;
  }

  // Calls ValidatePlaybook with a 5 s deadline; checks it answers within 2 s.
  grpc::Status Validate(const v1::ValidatePlaybookRequest& req, v1::ValidatePlaybookResponse* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    const auto start = std::chrono::steady_clock::now();
    grpc::Status s = stub_->ValidatePlaybook(&ctx, req, out);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
    EXPECT_FALSE(absl::StrContains(out->DebugString(), kSecret)) << out->DebugString();
    EXPECT_FALSE(absl::StrContains(s.error_message(), kSecret)) << s.error_message();
    EXPECT_FALSE(absl::StrContains(out->DebugString(), "root:x:0")) << out->DebugString();
    return s;
  }

  TempDir temp_;
  std::string dir_;
  int inotify_ = -1;
  std::unique_ptr<server::Sidecar> sidecar_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::PlaybookService::Stub> stub_;
};

TEST_F(ValidateHardeningTest, FileNamesAreLabelsNotPaths) {
  const int64_t rss_before = PeakRssKib();
  for (const std::string& name :
       {dir_ + "/p.yaml", dir_ + "/fifo.yaml", std::string("../../etc/passwd"),
        absl::StrCat(dir_, "/p.yaml", std::string(1, '\0'), "x"), std::string("/dev/zero"),
        std::string("/dev/zero_test.yaml"), std::string("/etc/passwd")}) {
    v1::ValidatePlaybookRequest req;
    req.set_yaml(Playbook());
    req.set_file_name(name);
    req.set_run_tests(true);
    v1::ValidatePlaybookResponse resp;
    grpc::Status s = Validate(req, &resp);
    ASSERT_TRUE(s.ok()) << name << ": " << s.error_message();
    EXPECT_TRUE(resp.valid()) << name;
    // Only the request's own (zero) tests ran: no sibling <name>_test.yaml was read.
    EXPECT_EQ(resp.test_results_size(), 0) << name;
  }
  EXPECT_EQ(FileEvents(), 0);
  EXPECT_LT(PeakRssKib() - rss_before, kRssBoundKib);
}

TEST_F(ValidateHardeningTest, TestsNamingFilesAreRefusedWithADiagnostic) {
  v1::ValidatePlaybookRequest req;
  req.set_yaml(
      Playbook(absl::StrCat("tests:\n", FileTest(dir_ + "/opp.json"), FileTest("../../etc/passwd"),
                            FileTest("/dev/zero"), FileTest(dir_ + "/opp.fifo"))));
  req.set_file_name(dir_ + "/p.yaml");
  req.set_run_tests(true);
  // The same through tests_yaml, the content of a _test.yaml sent inline.
  req.set_tests_yaml(absl::StrCat("tests:\n", FileTest("opp.json")));
  v1::ValidatePlaybookResponse resp;
  grpc::Status s = Validate(req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(resp.valid());
  ASSERT_EQ(resp.test_results_size(), 5);
  for (const v1::PlaybookTestResult& t : resp.test_results()) {
    EXPECT_FALSE(t.passed()) << t.name();
    ASSERT_EQ(t.failures_size(), 1) << t.name();
    EXPECT_TRUE(absl::StrContains(t.failures(0), "opportunity_file: tests here cannot read files"))
        << t.failures(0);
  }
  // Positioned: the inline tests in the playbook, the last one in the tests document.
  EXPECT_TRUE(absl::StartsWith(resp.test_results(0).failures(0), dir_ + "/p.yaml:8:23: "))
      << resp.test_results(0).failures(0);
  EXPECT_TRUE(absl::StartsWith(resp.test_results(4).failures(0), dir_ + "/p_test.yaml:4:23: "))
      << resp.test_results(4).failures(0);
  EXPECT_EQ(FileEvents(), 0);
}

TEST_F(ValidateHardeningTest, InlineTestsRun) {
  v1::ValidatePlaybookRequest req;
  req.set_yaml(Playbook());
  req.set_run_tests(true);
  req.set_tests_yaml(
      "now: 2026-11-20T12:00:00Z\ntests:\n  - name: inline\n    opportunity: {stage: "
      "Prospecting}\n    expect: {phase: a, claimed_phase: a}\n");
  v1::ValidatePlaybookResponse resp;
  ASSERT_TRUE(Validate(req, &resp).ok());
  ASSERT_EQ(resp.test_results_size(), 1);
  EXPECT_TRUE(resp.test_results(0).passed());
}

TEST_F(ValidateHardeningTest, YamlBombsAreRefusedWithinBoundedMemory) {
  std::string laughs = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i <= 9; ++i) {
    laughs += absl::StrCat("a", i, ": &a", i, " [");
    for (int k = 0; k < 10; ++k) absl::StrAppend(&laughs, k ? ", " : "", "*a", i - 1);
    laughs += "]\n";
  }
  ASSERT_LT(laughs.size(), 1024u);
  const int64_t rss_before = PeakRssKib();

  v1::ValidatePlaybookRequest req;
  req.set_yaml(laughs);
  v1::ValidatePlaybookResponse resp;
  ASSERT_TRUE(Validate(req, &resp).ok());
  EXPECT_FALSE(resp.valid());
  ASSERT_EQ(resp.diagnostics_size(), 1);
  EXPECT_TRUE(absl::StrContains(resp.diagnostics(0).message(), "expands to more than 100000"))
      << resp.diagnostics(0).message();

  for (const std::string& deep : {std::string(1000000, '['), std::string(500000, '{')}) {
    req.set_yaml(deep);
    ASSERT_TRUE(Validate(req, &resp).ok());
    EXPECT_FALSE(resp.valid());
    ASSERT_EQ(resp.diagnostics_size(), 1);
    EXPECT_TRUE(absl::StrContains(resp.diagnostics(0).message(), "nesting deeper than 64"))
        << resp.diagnostics(0).message();
  }

  // A flat flow sequence past the node budget (yaml-cpp would queue all its tokens).
  std::string flat = "[";
  for (int i = 0; i < 300000; ++i) flat += "a, ";
  req.set_yaml(flat + "a]");
  ASSERT_TRUE(Validate(req, &resp).ok());
  ASSERT_EQ(resp.diagnostics_size(), 1);
  EXPECT_TRUE(absl::StrContains(resp.diagnostics(0).message(), "expands to more than 100000"));

  // The same bounds for the tests document.
  req.set_yaml(Playbook());
  req.set_run_tests(true);
  req.set_tests_yaml(laughs);
  grpc::Status s = Validate(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "expands to more than 100000"))
      << s.error_message();
  req.set_tests_yaml(std::string(100000, '['));
  s = Validate(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "nesting deeper than 64")) << s.error_message();

  const int64_t growth_kib = PeakRssKib() - rss_before;
  std::printf("peak RSS growth during YAML bombs: %lld KiB\n", static_cast<long long>(growth_kib));
  EXPECT_LT(growth_kib, kRssBoundKib);

  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext ctx;
  grpc::health::v1::HealthCheckResponse hresp;
  ASSERT_TRUE(health->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &hresp).ok());
  EXPECT_EQ(hresp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

}  // namespace
}  // namespace dealcoach::testing
