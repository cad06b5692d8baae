#include "sidecar/runtime/log.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace dealcoach::runtime {
namespace {

// Runs `fn` with stderr sent to a file and returns what it wrote.
template <typename Fn>
std::string CaptureStderr(Fn fn) {
  char path[] = "/tmp/dealcoach_log_test_XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  std::fflush(stderr);
  const int saved = dup(2);
  dup2(fd, 2);
  fn();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fd);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::remove(path);
  return ss.str();
}

TEST(LogTest, JsonFormatWritesOneParsableObjectPerLine) {
  SetLogLevel(LogLevel::kInfo);
  SetLogFormat(LogFormat::kJson);
  const std::string out = CaptureStderr([] {
    LogInfo("reloaded ", "customer-journey");
    LogWarning("rejected:\nplaybook.yaml:3:5: error: bad");
    LogDebug("dropped below the level");
    LogError("bad bytes \xff\xfe from the CRM");
  });
  SetLogFormat(LogFormat::kText);

  std::istringstream lines(out);
  std::string line;
  std::vector<nlohmann::json> objects;
  while (std::getline(lines, line)) objects.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(objects.size(), 3u) << out;
  EXPECT_EQ(objects[0]["level"], "info");
  EXPECT_EQ(objects[0]["msg"], "reloaded customer-journey");
  EXPECT_EQ(objects[0]["ts"].get<std::string>().size(), 24u);  // 2026-11-20T12:00:00.000Z
  // A multi-line message stays one object.
  EXPECT_EQ(objects[1]["level"], "warning");
  EXPECT_EQ(objects[1]["msg"], "rejected:\nplaybook.yaml:3:5: error: bad");
  EXPECT_EQ(objects[2]["level"], "error");
}

TEST(LogTest, TextFormatIsTheDefaultLine) {
  SetLogLevel(LogLevel::kInfo);
  SetLogFormat(LogFormat::kText);
  const std::string out = CaptureStderr([] { LogInfo("hello"); });
  ASSERT_GE(out.size(), 2u);
  EXPECT_EQ(out.substr(0, 2), "I ");
  EXPECT_NE(out.find(" hello\n"), std::string::npos);
}

TEST(LogTest, ParseLogFormat) {
  EXPECT_EQ(*ParseLogFormat("JSON"), LogFormat::kJson);
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_FALSE(ParseLogFormat("xml").ok());
}

}  // namespace
}  // namespace dealcoach::runtime
