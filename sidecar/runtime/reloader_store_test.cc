// The reloader with a store (files seed, the store serves), on a real SQLite store in a
// temp directory. The loader is injected as in reloader_test.cc: "name version" stands
// in for playbook YAML. The sidecar-level tests (tests/integration/store_*_test.cc) run
// the same path with the real engine, over gRPC and across processes.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "sidecar/runtime/reloader.h"

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

// "name version" compiles; anything else is an error at 1:1 of `label` (with the name
// parsed when there is one, as the engine does).
engine::LoadResult FakeLoadText(const std::string& text, const std::string& label) {
  engine::LoadResult result;
  std::vector<std::string> parts = absl::StrSplit(text, ' ', absl::SkipWhitespace());
  if (!parts.empty()) result.ref.set_name(parts[0]);
  int64_t version = 0;
  if (parts.size() == 2 && absl::SimpleAtoi(parts[1], &version)) {
    result.ref.set_name(parts[0]);
    result.ref.set_version(version);
    result.playbook = std::make_shared<FakePlaybook>(parts[0], version, label);
    return result;
  }
  v1::Diagnostic d;
  d.set_severity(v1::DIAGNOSTIC_SEVERITY_ERROR);
  d.set_file(label);
  d.set_line(1);
  d.set_column(1);
  d.set_message("expected 'name version'");
  result.diagnostics.push_back(d);
  return result;
}

engine::LoadResult FakeLoadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return FakeLoadText(ss.str(), path);
}

class ReloaderStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dealcoach_reloader_store_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content) {
    std::string path = dir_ + "/" + name;
    {
      std::ofstream out(path + ".tmp", std::ios::trunc);
      out << content;
    }
    std::filesystem::rename(path + ".tmp", path);
    return path;
  }
  std::unique_ptr<store::Store> OpenStore() {
    store::StoreOptions o;
    o.data_dir = dir_ + "/data";
    auto st = store::Open(o);
    EXPECT_TRUE(st.ok()) << st.status();
    return st.ok() ? *std::move(st) : nullptr;
  }
  ReloaderOptions Options(std::vector<std::string> files, store::Store* st) {
    ReloaderOptions o;
    o.files = std::move(files);
    o.load = FakeLoadFile;
    o.load_text = FakeLoadText;
    o.store = st;
    o.base_dir = dir_;
    o.poll_interval = absl::Milliseconds(10);
    return o;
  }

  std::string dir_;
};

TEST_F(ReloaderStoreTest, TwoReplicasSeedingAtOnceServeTheOnePublishedRevision) {
  const std::string a = Write("a.txt", "alpha 1");
  std::unique_ptr<store::Store> s1 = OpenStore(), s2 = OpenStore();
  ASSERT_NE(s1, nullptr);
  ASSERT_NE(s2, nullptr);
  SnapshotHolder h1, h2;
  PlaybookReloader r1(&h1, Options({a}, s1.get())), r2(&h2, Options({a}, s2.get()));
  int ok1 = 0, ok2 = 0;
  std::thread t1([&] { ok1 = r1.LoadAll(); });
  std::thread t2([&] { ok2 = r2.LoadAll(); });
  t1.join();
  t2.join();
  EXPECT_EQ(ok1, 1);
  EXPECT_EQ(ok2, 1);
  auto published = s1->GetPublished("default", "alpha");
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->author, "file:a.txt");
  for (SnapshotHolder* h : {&h1, &h2}) {
    const PlaybookEntry* e = h->Get()->Find("alpha");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->source, "store");
    EXPECT_EQ(e->store_revision, published->revision);
  }
  auto audit = s1->ListAudit("default", "alpha", 10);
  ASSERT_TRUE(audit.ok()) << audit.status();
  EXPECT_EQ(audit->size(), 1u);  // one publish won; the loser published nothing
}

TEST_F(ReloaderStoreTest, AHeldBackRenameIsNotPublishedUnderTheOtherFilesName) {
  const std::string a = Write("a.txt", "alpha 1");
  const std::string b = Write("b.txt", "beta 1");
  std::unique_ptr<store::Store> st = OpenStore();
  ASSERT_NE(st, nullptr);
  SnapshotHolder holder;
  PlaybookReloader reloader(&holder, Options({a, b}, st.get()));
  ASSERT_EQ(reloader.LoadAll(), 2);
  Write("b.txt", "alpha 7");  // takes a's name: a configuration error, held back
  EXPECT_TRUE(reloader.PollOnce());
  auto alpha = st->GetPublished("default", "alpha");
  ASSERT_TRUE(alpha.ok()) << alpha.status();
  EXPECT_EQ(alpha->yaml, "alpha 1");
  auto revisions = st->ListRevisions("default", "alpha");
  ASSERT_TRUE(revisions.ok());
  EXPECT_EQ(revisions->size(), 1u);
  const PlaybookEntry* e = holder.Get()->Find("beta");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->playbook->ref().version(), 1);
  ASSERT_FALSE(e->last_reload_diagnostics.empty());
}

TEST_F(ReloaderStoreTest, AStoreRevisionServesABrokenFileAndPublishesReachTheWatcher) {
  const std::string a = Write("a.txt", "alpha 1");
  std::unique_ptr<store::Store> st = OpenStore();
  ASSERT_NE(st, nullptr);
  {
    SnapshotHolder holder;
    PlaybookReloader reloader(&holder, Options({a}, st.get()));
    ASSERT_EQ(reloader.LoadAll(), 1);
  }
  // A bad deploy: the file no longer compiles, but its name has a published revision,
  // which serves (the file's diagnostics are kept).
  Write("a.txt", "alpha x");
  SnapshotHolder holder;
  PlaybookReloader reloader(&holder, Options({a}, st.get()));
  EXPECT_EQ(reloader.LoadAll(), 1);
  const PlaybookEntry* e = holder.Get()->Find("alpha");
  ASSERT_NE(e, nullptr);
  ASSERT_NE(e->playbook, nullptr);
  EXPECT_EQ(e->source, "store");
  EXPECT_EQ(e->store_revision, 1);
  EXPECT_EQ(e->playbook->ref().version(), 1);
  ASSERT_FALSE(e->last_reload_diagnostics.empty());
  EXPECT_EQ(e->last_reload_diagnostics[0].file(), a);

  // A fixed file is published as the next revision and served.
  reloader.Start();
  Write("a.txt", "alpha 3");
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (absl::Now() < deadline && holder.Get()->Find("alpha")->store_revision != 2) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  e = holder.Get()->Find("alpha");
  EXPECT_EQ(e->store_revision, 2);
  EXPECT_EQ(e->playbook->ref().version(), 3);

  // A publish through another Store instance reaches the watch thread.
  std::unique_ptr<store::Store> other = OpenStore();
  ASSERT_NE(other, nullptr);
  auto created = other->CreateRevision("default", "alpha", "alpha 9", "admin", "");
  ASSERT_TRUE(created.ok()) << created.status();
  store::PublishRequest req;
  req.tenant = "default";
  req.name = "alpha";
  req.revision = created->revision;
  req.expected_current = 2;
  req.actor = "admin";
  ASSERT_TRUE(other->Publish(req).ok());
  const absl::Time deadline2 = absl::Now() + absl::Seconds(5);
  while (absl::Now() < deadline2 && holder.Get()->Find("alpha")->store_revision != 3) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  e = holder.Get()->Find("alpha");
  EXPECT_EQ(e->store_revision, 3);
  EXPECT_EQ(e->playbook->ref().version(), 9);
  reloader.Stop();
}

}  // namespace
}  // namespace dealcoach::runtime
