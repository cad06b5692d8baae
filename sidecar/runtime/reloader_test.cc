// Unit tests for the reloader's own logic (change detection, last-good, snapshot
// publication). The loader is injected: a tiny format "name version" stands in for
// playbook YAML, so these tests do not depend on the engine's schema. The integration
// tests (tests/integration) exercise the same path with the real engine.
#include "sidecar/runtime/reloader.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace dealcoach::runtime {
namespace {

class FakePlaybook : public engine::CompiledPlaybook {
 public:
  FakePlaybook(std::string name, int64_t version, std::string file) : file_(std::move(file)) {
    ref_.set_name(name);
    ref_.set_version(version);
    ref_.set_revision("0123456789abcdef");
  }
  const v1::PlaybookRef& ref() const override { return ref_; }
  const std::string& file_name() const override { return file_; }
  std::vector<std::string> checklist_names() const override { return {}; }
  v1::DealGuidance Evaluate(const v1::Opportunity&, absl::Time,
                            const engine::EvaluateOptions&) const override {
    return {};
  }
  absl::StatusOr<v1::ReviewChecklist> EvaluateChecklist(const v1::Opportunity&, absl::Time,
                                                        absl::string_view) const override {
    return v1::ReviewChecklist();
  }

 private:
  v1::PlaybookRef ref_;
  std::string file_;
};

// "name version" compiles; anything else is an error at 1:1.
engine::LoadResult FakeLoad(const std::string& path) {
  engine::LoadResult result;
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::vector<std::string> parts = absl::StrSplit(ss.str(), ' ', absl::SkipWhitespace());
  int64_t version = 0;
  if (in && parts.size() == 2 && absl::SimpleAtoi(parts[1], &version)) {
    result.ref.set_name(parts[0]);
    result.ref.set_version(version);
    result.playbook = std::make_shared<FakePlaybook>(parts[0], version, path);
    return result;
  }
  v1::Diagnostic d;
  d.set_severity(v1::DIAGNOSTIC_SEVERITY_ERROR);
  d.set_file(path);
  d.set_line(1);
  d.set_column(1);
  d.set_message("expected 'name version'");
  result.diagnostics.push_back(d);
  return result;
}

class ReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dealcoach_reloader_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& f : written_) std::remove(f.c_str());
    rmdir(dir_.c_str());
  }
  std::string Write(const std::string& name, const std::string& content) {
    std::string path = dir_ + "/" + name;
    std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << content;
    }
    std::rename(tmp.c_str(), path.c_str());
    written_.push_back(path);
    return path;
  }
  ReloaderOptions Options(std::vector<std::string> files) {
    ReloaderOptions o;
    o.files = std::move(files);
    o.load = FakeLoad;
    o.poll_interval = absl::Milliseconds(10);
    return o;
  }

  std::string dir_;
  std::vector<std::string> written_;
  SnapshotHolder holder_;
};

TEST_F(ReloaderTest, LoadAllPublishesEveryFileAndTheDefault) {
  std::string a = Write("a.yaml", "alpha 1");
  std::string b = Write("b.yaml", "beta 4");
  ReloaderOptions o = Options({a, b});
  o.default_name = "beta";
  PlaybookReloader reloader(&holder_, o);
  EXPECT_EQ(reloader.LoadAll(), 2);
  auto snap = holder_.Get();
  ASSERT_NE(snap->Serving(""), nullptr);
  EXPECT_EQ(snap->Serving("")->ref().name(), "beta");
  EXPECT_EQ(snap->Serving("alpha")->ref().version(), 1);
  EXPECT_EQ(snap->Serving("gamma"), nullptr);
  EXPECT_EQ(snap->ServingNames(), (std::vector<std::string>{"alpha", "beta"}));
}

TEST_F(ReloaderTest, NothingValidIsReportedWithDiagnostics) {
  std::string a = Write("a.yaml", "broken");
  PlaybookReloader reloader(&holder_, Options({a}));
  EXPECT_EQ(reloader.LoadAll(), 0);
  auto snap = holder_.Get();
  EXPECT_FALSE(snap->any_serving());
  ASSERT_EQ(snap->entries().size(), 1u);
  ASSERT_EQ(snap->entries()[0].last_reload_diagnostics.size(), 1u);
  EXPECT_EQ(snap->entries()[0].last_reload_diagnostics[0].message(), "expected 'name version'");
}

TEST_F(ReloaderTest, BrokenChangeKeepsLastGoodThenFixIsPickedUp) {
  std::string a = Write("a.yaml", "alpha 1");
  PlaybookReloader reloader(&holder_, Options({a}));
  ASSERT_EQ(reloader.LoadAll(), 1);
  auto first = holder_.Get()->Serving("alpha");

  EXPECT_FALSE(reloader.PollOnce());  // unchanged

  Write("a.yaml", "alpha 2 oops");
  EXPECT_TRUE(reloader.PollOnce());
  auto snap = holder_.Get();
  EXPECT_EQ(snap->Serving("alpha"), first);  // same object: last good keeps serving
  EXPECT_EQ(snap->Find("alpha")->last_reload_diagnostics.size(), 1u);

  Write("a.yaml", "alpha 3");
  EXPECT_TRUE(reloader.PollOnce());
  snap = holder_.Get();
  EXPECT_EQ(snap->Serving("alpha")->ref().version(), 3);
  EXPECT_TRUE(snap->Find("alpha")->last_reload_diagnostics.empty());
  // The request that took `first` still holds a valid playbook.
  EXPECT_EQ(first->ref().version(), 1);
}

TEST_F(ReloaderTest, DeletedFileKeepsServing) {
  std::string a = Write("a.yaml", "alpha 1");
  PlaybookReloader reloader(&holder_, Options({a}));
  ASSERT_EQ(reloader.LoadAll(), 1);
  std::remove(a.c_str());
  EXPECT_FALSE(reloader.PollOnce());
  EXPECT_EQ(holder_.Get()->Serving("alpha")->ref().version(), 1);
}

TEST_F(ReloaderTest, BackgroundThreadPicksUpChangesAndCallsOnPublish) {
  std::string a = Write("a.yaml", "alpha 1");
  ReloaderOptions o = Options({a});
  std::atomic<int> publishes{0};
  o.on_publish = [&](const Snapshot&) { publishes++; };
  PlaybookReloader reloader(&holder_, o);
  ASSERT_EQ(reloader.LoadAll(), 1);
  EXPECT_EQ(publishes.load(), 1);
  reloader.Start();
  Write("a.yaml", "alpha 22");
  absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (holder_.Get()->Serving("alpha")->ref().version() != 22 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  reloader.Stop();
  EXPECT_EQ(holder_.Get()->Serving("alpha")->ref().version(), 22);
  EXPECT_GE(publishes.load(), 2);
}

TEST_F(ReloaderTest, RenamingTheDefaultIsRejectedAndTheLastGoodKeepsServing) {
  std::string a = Write("a.yaml", "alpha 1");
  std::string b = Write("b.yaml", "beta 1");
  ReloaderOptions o = Options({a, b});
  o.default_name = "beta";
  PlaybookReloader reloader(&holder_, o);
  ASSERT_EQ(reloader.LoadAll(), 2);
  ASSERT_TRUE(reloader.startup_consistency().ok());

  Write("b.yaml", "gamma 2");  // valid on its own, but the default would name nothing
  EXPECT_TRUE(reloader.PollOnce());
  auto snap = holder_.Get();
  ASSERT_NE(snap->Serving(""), nullptr);
  EXPECT_EQ(snap->Serving("")->ref().name(), "beta");
  EXPECT_EQ(snap->Serving("")->ref().version(), 1);
  EXPECT_EQ(snap->Serving("gamma"), nullptr);
  const PlaybookEntry& entry = snap->entries()[1];
  ASSERT_EQ(entry.last_reload_diagnostics.size(), 1u);
  EXPECT_NE(entry.last_reload_diagnostics[0].message().find("playbooks.default is 'beta'"),
            std::string::npos)
      << entry.last_reload_diagnostics[0].message();
  EXPECT_EQ(entry.last_attempt_ref.name(), "gamma");

  Write("b.yaml", "beta 3");  // a fix is picked up and clears the diagnostics
  EXPECT_TRUE(reloader.PollOnce());
  snap = holder_.Get();
  EXPECT_EQ(snap->Serving("")->ref().version(), 3);
  EXPECT_TRUE(snap->entries()[1].last_reload_diagnostics.empty());
}

TEST_F(ReloaderTest, DuplicateNameIsRejectedNeverShadowing) {
  std::string a = Write("a.yaml", "alpha 1");
  std::string b = Write("b.yaml", "beta 1");
  PlaybookReloader reloader(&holder_, Options({a, b}));
  ASSERT_EQ(reloader.LoadAll(), 2);

  Write("b.yaml", "alpha 9");
  EXPECT_TRUE(reloader.PollOnce());
  auto snap = holder_.Get();
  EXPECT_EQ(snap->Serving("alpha")->ref().version(), 1);  // a's, not b's
  EXPECT_EQ(snap->Serving("beta")->ref().version(), 1);   // b keeps its last good
  ASSERT_EQ(snap->entries()[1].last_reload_diagnostics.size(), 1u);
  EXPECT_NE(snap->entries()[1].last_reload_diagnostics[0].message().find("used by both"),
            std::string::npos);
  EXPECT_TRUE(CheckConsistency(snap->entries(), "").ok());

  // Renaming a away frees the name: the held-back version of b goes in.
  Write("a.yaml", "delta 2");
  EXPECT_TRUE(reloader.PollOnce());
  snap = holder_.Get();
  EXPECT_EQ(snap->Serving("delta")->ref().version(), 2);
  EXPECT_EQ(snap->Serving("alpha")->ref().version(), 9);
  EXPECT_EQ(snap->Serving("beta"), nullptr);
  EXPECT_TRUE(snap->entries()[1].last_reload_diagnostics.empty());
}

TEST_F(ReloaderTest, StartupReportsDuplicatesAndAMissingDefault) {
  std::string a = Write("a.yaml", "alpha 1");
  std::string b = Write("b.yaml", "alpha 2");
  {
    PlaybookReloader reloader(&holder_, Options({a, b}));
    EXPECT_EQ(reloader.LoadAll(), 2);
    EXPECT_EQ(reloader.startup_consistency().code(), absl::StatusCode::kFailedPrecondition);
  }
  Write("b.yaml", "beta 2");
  ReloaderOptions o = Options({a, b});
  o.default_name = "nosuch";
  PlaybookReloader reloader(&holder_, o);
  EXPECT_EQ(reloader.LoadAll(), 2);
  EXPECT_EQ(reloader.startup_consistency().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(reloader.startup_consistency().message().find("'nosuch'"), std::string::npos);
}

}  // namespace
}  // namespace dealcoach::runtime
