#include "connectors/common/http_client.h"

#include <gtest/gtest.h>

#include "connectors/testing/http_test_server.h"

namespace dealcoach::connectors {
namespace {

using testing::HttpTestServer;
using testing::RecordedRequest;
using testing::ScriptedResponse;

TEST(HttpClientTest, SendsRequestAndCapturesResponse) {
  HttpTestServer server;
  server.Route("POST", "/echo", [](const RecordedRequest& r) {
    ScriptedResponse out = ScriptedResponse::Json(201, r.body + "|" + r.Header("X-Test"));
    out.headers.push_back({"X-Reply", "yes"});
    return out;
  });
  ASSERT_TRUE(server.Start().ok());
  auto client = HttpClient::Create({});
  ASSERT_TRUE(client.ok());
  HttpRequest req;
  req.method = "POST";
  req.url = server.base_url() + "/echo?a=1";
  req.headers = {{"X-Test", "hello"}};
  req.body = FormEncode({{"grant_type", "client_credentials"}, {"q", "a b&c"}});
  absl::StatusOr<HttpResponse> resp = (*client)->Send(req);
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->status, 201);
  EXPECT_EQ(resp->body, "grant_type=client_credentials&q=a%20b%26c|hello");
  EXPECT_EQ(resp->Header("x-reply"), "yes");
  EXPECT_EQ(resp->Header("X-Reply"), "yes");
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].query, "a=1");
  EXPECT_EQ(server.requests()[0].FormField("q"), "a b&c");
  // Connection reuse: a second request still works through the pooled handle.
  ASSERT_TRUE((*client)->Send(req).ok());
}

TEST(HttpClientTest, TimeoutIsDeadlineExceeded) {
  HttpTestServer server;
  server.Route("GET", "/slow", [](const RecordedRequest&) {
    ScriptedResponse r = ScriptedResponse::Json(200, "late");
    r.delay = absl::Seconds(3);
    return r;
  });
  ASSERT_TRUE(server.Start().ok());
  auto client = *HttpClient::Create({});
  HttpRequest req;
  req.url = server.base_url() + "/slow?secret=abc";
  req.timeout = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  absl::StatusOr<HttpResponse> resp = client->Send(req);
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(resp.status().message().rfind("GET /slow: timed out after", 0), 0u) << resp.status();
  EXPECT_EQ(resp.status().message().find("secret"), absl::string_view::npos);
}

TEST(HttpClientTest, ConnectionRefusedIsUnavailable) {
  int port = 0;
  {
    HttpTestServer server;
    ASSERT_TRUE(server.Start().ok());
    port = server.port();
  }
  auto client = *HttpClient::Create({});
  HttpRequest req;
  req.url = absl::StrCat("http://127.0.0.1:", port, "/x");
  absl::StatusOr<HttpResponse> resp = client->Send(req);
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.status().code(), absl::StatusCode::kUnavailable);
}

TEST(HttpClientTest, RefusesPlainHttpToRemoteHosts) {
  auto client = *HttpClient::Create({});
  HttpRequest req;
  req.url = "http://example.com/services/oauth2/token";
  absl::StatusOr<HttpResponse> resp = client->Send(req);
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(resp.status().message(),
            "GET /services/oauth2/token: refusing plain http:// to non-loopback host "
            "example.com; use https://");
}

TEST(HttpClientTest, PastDeadline) {
  auto client = *HttpClient::Create({});
  HttpRequest req;
  req.url = "http://127.0.0.1:1/x";
  req.deadline = absl::Now() - absl::Seconds(1);
  EXPECT_EQ(client->Send(req).status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(HttpClientTest, Helpers) {
  EXPECT_EQ(UrlEncode("SELECT Id FROM X WHERE a >= 2026-01-01T00:00:00Z"),
            "SELECT%20Id%20FROM%20X%20WHERE%20a%20%3E%3D%202026-01-01T00%3A00%3A00Z");
  EXPECT_EQ(DescribeCall("GET", "https://x.my.salesforce.com/services/data/v59.0/query?q=S"),
            "GET /services/data/v59.0/query");
  EXPECT_EQ(DescribeCall("GET", "https://host"), "GET /");
  EXPECT_EQ(DescribeCall("GET", "/services/data/v59.0/query/01g-2000"),
            "GET /services/data/v59.0/query/01g-2000");
}

}  // namespace
}  // namespace dealcoach::connectors
