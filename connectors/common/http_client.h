// HttpClient: the one HTTP transport every CRM adapter uses (libcurl underneath).
//
// It does transport only: a request goes out, a response (any HTTP status) comes back.
// Retries, rate limits and the circuit breaker live in resilience.h; mapping an HTTP
// status onto absl::Status is StatusFromHttp() there too.
//
//   - Connections are reused: the client keeps a pool of CURL easy handles, each with its
//     own connection cache, plus a share handle for DNS and TLS sessions.
//   - Timeouts: a connect timeout and a total timeout per request, both cut short by the
//     request's absolute deadline.
//   - TLS certificates are verified by default. `tls_verify = false` exists for tests
//     only. Plain `http://` is refused unless the host is a loopback address
//     (127.0.0.1, ::1, localhost), so credentials never travel unencrypted.
//   - gzip/deflate responses are accepted and decoded (CURLOPT_ACCEPT_ENCODING "").
//   - Response headers are captured (names lower-cased).
//
// CMake target: dealcoach_connector_common.
//
// Thread safety: an HttpClient is safe to use from many threads at once; each Send()
// borrows its own easy handle from the pool.
#ifndef DEALCOACH_CONNECTORS_COMMON_HTTP_CLIENT_H_
#define DEALCOACH_CONNECTORS_COMMON_HTTP_CLIENT_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace dealcoach::connectors {

struct HttpRequest {
  // "GET", "POST", "PATCH", ...
  std::string method = "GET";
  // Absolute URL, already encoded (see UrlEncode / FormEncode).
  std::string url;
  // Extra request headers, sent in order. Values may hold secrets (Authorization):
  // they are never copied into error messages.
  std::vector<std::pair<std::string, std::string>> headers;
  // Request body (POST/PATCH), sent as-is.
  std::string body;
  // The whole request, including connect, must finish by this time, whatever `timeout`
  // says. Default: no deadline beyond `timeout`.
  absl::Time deadline = absl::InfiniteFuture();
  // Total timeout for this request; zero means HttpClientOptions::request_timeout.
  absl::Duration timeout = absl::ZeroDuration();
};

struct HttpResponse {
  // HTTP status code (200, 404, 503, ...).
  int status = 0;
  // Decoded body.
  std::string body;
  // Response headers, names lower-cased; the last value wins for repeated headers.
  absl::flat_hash_map<std::string, std::string> headers;
  // Wall time the request took.
  absl::Duration elapsed = absl::ZeroDuration();

  // The header's value, or "" when absent. `name` is matched case-insensitively.
  std::string Header(absl::string_view name) const;
};

// absl::Status payload type URL whose value is a machine-readable reason for a CRM
// failure (e.g. "CRM_RESPONSE_TOO_LARGE"); the server copies it into
// google.rpc.ErrorInfo.reason.
inline constexpr absl::string_view kCrmReasonPayload = "dealcoach.dev/crm-reason";

// True when `status` is (or wraps) HttpClient's "response body over the cap" error.
// Checks the payload and, since the adapters' wrappers keep a message but not always
// its payloads, the message's fixed suffix.
bool IsResponseTooLarge(const absl::Status& status);

struct HttpClientOptions {
  // Time allowed to establish the TCP (+TLS) connection. Default: 5 s.
  absl::Duration connect_timeout = absl::Seconds(5);
  // Default total time for a request when HttpRequest::timeout is zero. Default: 30 s.
  absl::Duration request_timeout = absl::Seconds(30);
  // Verify the server certificate and host name. Default: true. Turn off only in tests.
  bool tls_verify = true;
  // CA bundle file; empty means the system default.
  std::string ca_file;
  // User-Agent header.
  std::string user_agent = "dealcoach-sidecar/0.1";
  // Response bodies larger than this (after decoding) fail with ResourceExhausted
  // naming the call and the cap, carrying the payload kCrmReasonPayload =
  // "CRM_RESPONSE_TOO_LARGE". One page of a CRM list call is far below it. Config key
  // `max_response_bytes`. Default: 16 MiB.
  size_t max_response_bytes = size_t{16} << 20;
};

class HttpClient {
 public:
  // Builds a client. Never fails today; StatusOr leaves room for option validation.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<HttpClient>> Create(
      const HttpClientOptions& options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request. Returns the response for ANY HTTP status, including 4xx/5xx.
  // A non-OK status means the transport failed:
  //   DeadlineExceeded   the timeout or deadline expired (also: deadline already past);
  //   Unavailable        could not resolve / connect / TLS handshake / connection reset;
  //   FailedPrecondition plain http:// to a non-loopback host;
  //   InvalidArgument    malformed URL;
  //   ResourceExhausted  response over max_response_bytes.
  // Messages name the method and the URL path (never the query string or headers,
  // which may carry secrets): "POST /services/oauth2/token: connection refused".
  [[nodiscard]] absl::StatusOr<HttpResponse> Send(const HttpRequest& request);

  const HttpClientOptions& options() const { return options_; }

 private:
  struct Pool;
  explicit HttpClient(const HttpClientOptions& options);
  HttpClientOptions options_;
  std::unique_ptr<Pool> pool_;
};

// Percent-encodes `text` for a URL query value or path segment (RFC 3986 unreserved
// characters stay as-is; space becomes %20).
std::string UrlEncode(absl::string_view text);

// application/x-www-form-urlencoded body from key/value pairs, in order.
std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields);

// "GET /services/data/v59.0/query" from a method and a URL: the path only, no scheme,
// host or query string. Used to name CRM calls in messages without leaking secrets.
std::string DescribeCall(absl::string_view method, absl::string_view url);

}  // namespace dealcoach::connectors

#endif  // DEALCOACH_CONNECTORS_COMMON_HTTP_CLIENT_H_
