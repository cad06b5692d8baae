#include "connectors/common/config.h"

#include <gtest/gtest.h>

namespace dealcoach::connectors {
namespace {

ConnectorContext Ctx() {
  ConnectorContext c;
  c.config_file = "sidecar.yaml";
  c.base_dir = "/etc/dealcoach";
  return c;
}

TEST(ConfigReaderTest, ValuesDefaultsAndErrors) {
  YAML::Node n = YAML::Load("url: https://x\nn: 5\nd: 250ms\nb: false\nbad: 1y\n");
  ConfigReader r(n, Ctx());
  EXPECT_EQ(*r.String("url"), "https://x");
  EXPECT_EQ(*r.String("missing", "dflt"), "dflt");
  EXPECT_EQ(*r.Int("n", 0), 5);
  EXPECT_EQ(*r.Duration("d", absl::ZeroDuration()), absl::Milliseconds(250));
  EXPECT_FALSE(*r.Bool("b", true));
  EXPECT_EQ(r.Duration("bad", absl::ZeroDuration()).status().message(),
            "sidecar.yaml:5:6: `bad` must be a duration like 500ms, 5s, 2m; got '1y'");
  EXPECT_EQ(r.String("nope").status().message(), "sidecar.yaml:1:1: missing required key `nope`");
  absl::Status keys = r.CheckKeys({"url", "n", "d", "b"});
  EXPECT_EQ(keys.message(), "sidecar.yaml:5:1: unknown key 'bad'; known keys: b, d, n, url");
}

TEST(ConfigReaderTest, ResilienceSection) {
  YAML::Node n = YAML::Load(R"(
retry: {max_attempts: 6, initial_backoff: 100ms, max_retry_after: 2m}
rate_limit: {requests_per_second: 2.5, burst: 5}
circuit_breaker: {failure_threshold: 3, first_cool_down: 500ms, cool_down: 10s}
timeouts: {connect: 2s, request: 15s}
tls_verify: false
)");
  ConfigReader r(n, Ctx());
  absl::StatusOr<ResilienceOptions> o = ParseResilience(r);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->retry.max_attempts, 6);
  EXPECT_EQ(o->retry.initial_backoff, absl::Milliseconds(100));
  EXPECT_EQ(o->retry.max_retry_after, absl::Minutes(2));
  EXPECT_DOUBLE_EQ(o->rate_limit.requests_per_second, 2.5);
  EXPECT_EQ(o->circuit_breaker.failure_threshold, 3);
  EXPECT_EQ(o->circuit_breaker.first_cool_down, absl::Milliseconds(500));
  EXPECT_EQ(o->circuit_breaker.cool_down, absl::Seconds(10));
  EXPECT_EQ(o->request_timeout, absl::Seconds(15));
  absl::StatusOr<HttpClientOptions> h = ParseHttpClientOptions(r);
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(h->tls_verify);
  EXPECT_EQ(h->connect_timeout, absl::Seconds(2));

  ConfigReader bad(YAML::Load("retry: {max_atempts: 2}"), Ctx());
  EXPECT_EQ(ParseResilience(bad).status().message(),
            "sidecar.yaml:1:9: unknown key 'max_atempts'; known keys: initial_backoff, "
            "max_attempts, max_backoff, max_retry_after");
}

TEST(ConfigTest, ResolvePath) {
  EXPECT_EQ(ResolvePath("data/x.json", Ctx()), "/etc/dealcoach/data/x.json");
  EXPECT_EQ(ResolvePath("/abs/x.json", Ctx()), "/abs/x.json");
}

}  // namespace
}  // namespace dealcoach::connectors
