// engine::ReadBoundedFile and RootedFileReader: the only file reads of playbook tooling.
#include "sidecar/engine/bounded_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dealcoach::engine {
namespace {

using ::testing::HasSubstr;

class BoundedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bounded-file-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(mkdir((dir_ + "/root").c_str(), 0755), 0);
    ASSERT_EQ(mkdir((dir_ + "/root/sub").c_str(), 0755), 0);
    Write(dir_ + "/root/sub/a.json", "{\"a\": 1}");
    Write(dir_ + "/secret.txt", "top secret");
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  static void Write(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
  }
  std::string root() const { return dir_ + "/root"; }
  std::string dir_;
};

TEST_F(BoundedFileTest, ReadsRegularFiles) {
  auto text = ReadBoundedFile(root() + "/sub/a.json");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "{\"a\": 1}");
  RootedFileReader reader(root());
  auto rooted = reader.Read("sub/a.json");
  ASSERT_TRUE(rooted.ok()) << rooted.status();
  EXPECT_EQ(*rooted, "{\"a\": 1}");
  // ".." that stays inside the root is fine.
  EXPECT_TRUE(reader.Read("sub/../sub/./a.json").ok());
}

TEST_F(BoundedFileTest, FifoIsRefusedWithoutBlocking) {
  const std::string fifo = root() + "/pipe";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  const auto start = std::chrono::steady_clock::now();
  auto text = ReadBoundedFile(fifo);
  auto rooted = RootedFileReader(root()).Read("pipe");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(text.status().message(), HasSubstr("is a FIFO"));
  EXPECT_THAT(rooted.status().message(), HasSubstr("is a FIFO"));
  EXPECT_LT(elapsed, std::chrono::seconds(1));
}

TEST_F(BoundedFileTest, DevicesAndDirectoriesAreRefused) {
  auto zero = ReadBoundedFile("/dev/zero");
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(zero.status().message(), HasSubstr("character device"));
  EXPECT_THAT(ReadBoundedFile(root()).status().message(), HasSubstr("a directory"));
}

TEST_F(BoundedFileTest, SizeCap) {
  Write(root() + "/big", std::string(1001, 'x'));
  auto big = ReadBoundedFile(root() + "/big", 1000);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(big.status().message(), HasSubstr("larger than the 1000-byte limit"));
  EXPECT_TRUE(ReadBoundedFile(root() + "/big", 1001).ok());
  EXPECT_THAT(RootedFileReader(root(), 1000).Read("big").status().message(),
              HasSubstr("1000-byte limit"));
}

TEST_F(BoundedFileTest, NulAbsoluteAndDotDotAreRefused) {
  RootedFileReader reader(root());
  EXPECT_THAT(reader.Read(std::string("sub/a.json\0x", 12)).status().message(), HasSubstr("NUL"));
  EXPECT_THAT(ReadBoundedFile(std::string("/etc/passwd\0x", 13)).status().message(),
              HasSubstr("NUL"));
  auto abs = reader.Read(root() + "/sub/a.json");
  EXPECT_THAT(abs.status().message(), HasSubstr("absolute path"));
  auto up = reader.Read("../secret.txt");
  EXPECT_EQ(up.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(up.status().message(), HasSubstr("leaves the root"));
  EXPECT_THAT(std::string(up.status().message()), ::testing::Not(HasSubstr("top secret")));
  EXPECT_THAT(reader.Read("sub/../../secret.txt").status().message(), HasSubstr("leaves"));
}

TEST_F(BoundedFileTest, SymlinkOutOfRootIsRefused) {
  ASSERT_EQ(symlink((dir_ + "/secret.txt").c_str(), (root() + "/link").c_str()), 0);
  ASSERT_EQ(symlink("sub/a.json", (root() + "/inside").c_str()), 0);
  RootedFileReader reader(root());
  auto out = reader.Read("link");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("outside"));
  auto in = reader.Read("inside");
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(*in, "{\"a\": 1}");
}

}  // namespace
}  // namespace dealcoach::engine
