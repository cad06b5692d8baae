// HttpTestServer: a real HTTP server on 127.0.0.1 (ephemeral port) for connector tests
// and benchmarks, built on cpp-httplib. Tests implement a CRM's wire format with route
// handlers, inject failures (status codes, delays, malformed bodies) with one-shot
// scripted responses, and assert on the recorded requests.
//
//   testing::HttpTestServer server;
//   server.Route("POST", "/services/oauth2/token", [&](const RecordedRequest& r) {
//     return ScriptedResponse::Json(200, R"({"access_token":"t1", ...})");
//   });
//   server.Enqueue("GET", "/services/data/v59.0/query", {.status = 503, ...});
//   ASSERT_TRUE(server.Start().ok());
//   ... server.base_url() ...  // "http://127.0.0.1:41234"
//   EXPECT_EQ(server.Count("GET", "/services/data/v59.0/query"), 2);
//
// Dispatch order for a request: the oldest queued one-shot response for (method, path),
// then the exact-path route, then the longest matching prefix route, else 404.
//
// CMake target: dealcoach_connector_testing.
//
// Thread safety: every method is safe to call from the test thread while the server's
// worker threads handle requests. Handlers run on worker threads, concurrently.
#ifndef DEALCOACH_CONNECTORS_TESTING_HTTP_TEST_SERVER_H_
#define DEALCOACH_CONNECTORS_TESTING_HTTP_TEST_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace dealcoach::connectors::testing {

struct RecordedRequest {
  std::string method;
  // Path without the query string, as sent (still percent-encoded).
  std::string path;
  // Raw query string without '?', as sent (percent-encoded); "" when none.
  std::string query;
  // Decoded query parameters (first value wins for repeated names).
  std::vector<std::pair<std::string, std::string>> params;
  // Request headers as received (names as sent).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Arrival time.
  absl::Time at;

  // Header value by case-insensitive name, or "".
  std::string Header(absl::string_view name) const;
  // Decoded query parameter, or "".
  std::string Param(absl::string_view name) const;
  // Decoded application/x-www-form-urlencoded body field, or "".
  std::string FormField(absl::string_view name) const;
};

struct ScriptedResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  // Wait this long before answering (ends early when the server stops).
  absl::Duration delay = absl::ZeroDuration();

  static ScriptedResponse Json(int status, std::string body);
};

using Handler = std::function<ScriptedResponse(const RecordedRequest&)>;

class HttpTestServer {
 public:
  HttpTestServer();
  // Stops the server.
  ~HttpTestServer();
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  // Binds 127.0.0.1 on an ephemeral port and starts serving on a background thread.
  // Routes may be added before or after.
  absl::Status Start();
  // Stops accepting, cuts scripted delays short, joins the thread. Idempotent.
  void Stop();

  int port() const;
  // "http://127.0.0.1:<port>".
  std::string base_url() const;

  // Handler for exactly `path` (no query string).
  void Route(absl::string_view method, absl::string_view path, Handler handler);
  // Handler for every path starting with `prefix` (longest prefix wins).
  void RoutePrefix(absl::string_view method, absl::string_view prefix, Handler handler);
  // A one-shot response for the next request to (method, path), ahead of routes.
  // Several queue up and are used in order.
  void Enqueue(absl::string_view method, absl::string_view path, ScriptedResponse response);

  // Every request received so far, in arrival order.
  std::vector<RecordedRequest> requests() const;
  // Every response from now on waits this long first (a slow CRM), on top of any
  // scripted delay. Default: none.
  void SetLatency(absl::Duration latency);
  // The most requests that were being handled at once so far.
  int max_in_flight() const;

  // Number of requests to (method, path); an empty method matches any method.
  int Count(absl::string_view method, absl::string_view path) const;
  void ClearRequests();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dealcoach::connectors::testing

#endif  // DEALCOACH_CONNECTORS_TESTING_HTTP_TEST_SERVER_H_
