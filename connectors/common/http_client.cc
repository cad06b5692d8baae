#include "connectors/common/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"

namespace dealcoach::connectors {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Sink {
  std::string* body;
  size_t limit;
  bool overflow = false;
};

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t bytes = size * n;
  if (sink->body->size() + bytes > sink->limit) {
    sink->overflow = true;
    return 0;  // Aborts the transfer.
  }
  sink->body->append(data, bytes);
  return bytes;
}

size_t WriteHeader(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<absl::flat_hash_map<std::string, std::string>*>(user);
  const size_t bytes = size * n;
  absl::string_view line(data, bytes);
  // A new status line starts a new header block (redirects, 100-continue).
  if (absl::StartsWith(line, "HTTP/")) {
    headers->clear();
    return bytes;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return bytes;
  std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(0, colon)));
  (*headers)[name] = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  return bytes;
}

// Host part of a URL ("http://127.0.0.1:8080/x" → "127.0.0.1").
std::string HostOf(absl::string_view url) {
  size_t scheme = url.find("://");
  absl::string_view rest = scheme == absl::string_view::npos ? url : url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = rest.rfind('@'); at != absl::string_view::npos) rest = rest.substr(at + 1);
  if (absl::StartsWith(rest, "[")) {
    size_t end = rest.find(']');
    return std::string(rest.substr(1, end == absl::string_view::npos ? end : end - 1));
  }
  return std::string(rest.substr(0, rest.find(':')));
}

bool IsLoopback(absl::string_view host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost" ||
         absl::StartsWith(host, "127.");
}

long Millis(absl::Duration d) {  // NOLINT(runtime/int): curl takes long
  return static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));  // NOLINT
}

}  // namespace

std::string HttpResponse::Header(absl::string_view name) const {
  auto it = headers.find(absl::AsciiStrToLower(name));
  return it == headers.end() ? std::string() : it->second;
}

// Easy handles are reused so each keeps its connection cache; the share handle spreads
// DNS and TLS sessions across them.
struct HttpClient::Pool {
  absl::Mutex mu;
  std::vector<CURL*> idle ABSL_GUARDED_BY(mu);
  CURLSH* share = nullptr;
  std::mutex share_locks[CURL_LOCK_DATA_LAST];

  Pool() {
    share = curl_share_init();
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(share, CURLSHOPT_USERDATA, this);
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, &Pool::Lock);
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, &Pool::Unlock);
  }
  ~Pool() {
    absl::MutexLock lock(&mu);
    for (CURL* h : idle) curl_easy_cleanup(h);
    curl_share_cleanup(share);
  }
  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<Pool*>(user)->share_locks[data].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<Pool*>(user)->share_locks[data].unlock();
  }
  CURL* Take() {
    {
      absl::MutexLock lock(&mu);
      if (!idle.empty()) {
        CURL* h = idle.back();
        idle.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }
  void Give(CURL* h) {
    absl::MutexLock lock(&mu);
    if (idle.size() < 16) {
      idle.push_back(h);
      return;
    }
    curl_easy_cleanup(h);
  }
};

HttpClient::HttpClient(const HttpClientOptions& options)
    : options_(options), pool_(std::make_unique<Pool>()) {}

HttpClient::~HttpClient() = default;

absl::StatusOr<std::unique_ptr<HttpClient>> HttpClient::Create(const HttpClientOptions& options) {
  GlobalInit();
  return std::unique_ptr<HttpClient>(new HttpClient(options));
}

absl::StatusOr<HttpResponse> HttpClient::Send(const HttpRequest& request) {
  const std::string call = DescribeCall(request.method, request.url);
  if (!absl::StartsWith(request.url, "https://") && !absl::StartsWith(request.url, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat(call, ": URL must be http(s)://"));
  }
  if (absl::StartsWith(request.url, "http://") && !IsLoopback(HostOf(request.url))) {
    return absl::FailedPreconditionError(
        absl::StrCat(call, ": refusing plain http:// to non-loopback host ", HostOf(request.url),
                     "; use https://"));
  }
  const absl::Time start = absl::Now();
  absl::Duration timeout =
      request.timeout > absl::ZeroDuration() ? request.timeout : options_.request_timeout;
  if (request.deadline != absl::InfiniteFuture()) {
    const absl::Duration left = request.deadline - start;
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat(call, ": deadline already passed"));
    }
    timeout = std::min(timeout, left);
  }

  CURL* h = pool_->Take();
  if (h == nullptr) return absl::InternalError(absl::StrCat(call, ": curl_easy_init failed"));
  curl_easy_reset(h);

  HttpResponse response;
  Sink sink{&response.body, options_.max_response_bytes};
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    headers = curl_slist_append(headers, absl::StrCat(name, ": ", value).c_str());
  }
  // libcurl adds "Expect: 100-continue" to larger POSTs; CRMs don't need the round trip.
  headers = curl_slist_append(headers, "Expect:");

  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_SHARE, pool_->share);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   Millis(std::min(options_.connect_timeout, timeout)));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, Millis(timeout));
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, options_.tls_verify ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, options_.tls_verify ? 2L : 0L);
  if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &WriteHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &response.headers);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  if (request.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (request.method != "GET" && request.method != "HEAD") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }
  if (request.method == "HEAD") curl_easy_setopt(h, CURLOPT_NOBODY, 1L);

  const CURLcode rc = curl_easy_perform(h);
  long status = 0;  // NOLINT(runtime/int)
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  // Don't keep pointers into this stack frame in a pooled handle.
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  pool_->Give(h);
  response.elapsed = absl::Now() - start;

  if (rc != CURLE_OK) {
    const std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
    switch (rc) {
      case CURLE_OPERATION_TIMEDOUT:
        return absl::DeadlineExceededError(absl::StrCat(
            call, ": timed out after ", absl::FormatDuration(response.elapsed), " (", detail, ")"));
      case CURLE_WRITE_ERROR:
        if (sink.overflow) {
          absl::Status s = absl::ResourceExhaustedError(
              absl::StrCat(call, ": response body larger than the cap of ",
                           options_.max_response_bytes, " bytes (setting max_response_bytes)"));
          s.SetPayload(kCrmReasonPayload, absl::Cord("CRM_RESPONSE_TOO_LARGE"));
          return s;
        }
        return absl::UnavailableError(absl::StrCat(call, ": ", detail));
      case CURLE_URL_MALFORMAT:
      case CURLE_UNSUPPORTED_PROTOCOL:
        return absl::InvalidArgumentError(absl::StrCat(call, ": ", detail));
      default:
        return absl::UnavailableError(absl::StrCat(call, ": ", detail));
    }
  }
  response.status = static_cast<int>(status);
  return response;
}

std::string UrlEncode(absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out.push_back('&');
    absl::StrAppend(&out, UrlEncode(k), "=", UrlEncode(v));
  }
  return out;
}

bool IsResponseTooLarge(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kResourceExhausted) return false;
  auto reason = status.GetPayload(kCrmReasonPayload);
  if (reason.has_value() && *reason == "CRM_RESPONSE_TOO_LARGE") return true;
  return absl::StrContains(status.message(), "bytes (setting max_response_bytes)");
}

std::string DescribeCall(absl::string_view method, absl::string_view url) {
  absl::string_view rest = url;
  if (size_t scheme = rest.find("://"); scheme != absl::string_view::npos) {
    rest = rest.substr(scheme + 3);
    size_t slash = rest.find('/');
    rest = slash == absl::string_view::npos ? absl::string_view("/") : rest.substr(slash);
  }
  rest = rest.substr(0, rest.find_first_of("?#"));
  return absl::StrCat(method, " ", rest.empty() ? "/" : rest);
}

}  // namespace dealcoach::connectors
