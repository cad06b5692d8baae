#include "connectors/testing/http_test_server.h"

#include <httplib.h>

#include <algorithm>
#include <deque>
#include <map>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace dealcoach::connectors::testing {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX and (for form/query data) '+' as space.
std::string Decode(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out.push_back(' ');
    } else if (in[i] == '%' && i + 2 < in.size() && HexValue(in[i + 1]) >= 0 &&
               HexValue(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2])));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ParseForm(absl::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  for (absl::string_view part : absl::StrSplit(text, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(part, absl::MaxSplits('=', 1));
    out.emplace_back(Decode(kv.first), Decode(kv.second));
  }
  return out;
}

std::string Find(const std::vector<std::pair<std::string, std::string>>& list,
                 absl::string_view name, bool case_insensitive) {
  for (const auto& [k, v] : list) {
    if (case_insensitive ? absl::EqualsIgnoreCase(k, name) : k == name) return v;
  }
  return "";
}

}  // namespace

std::string RecordedRequest::Header(absl::string_view name) const {
  return Find(headers, name, true);
}
std::string RecordedRequest::Param(absl::string_view name) const {
  return Find(params, name, false);
}
std::string RecordedRequest::FormField(absl::string_view name) const {
  return Find(ParseForm(body), name, false);
}

ScriptedResponse ScriptedResponse::Json(int status, std::string body) {
  ScriptedResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

struct HttpTestServer::Impl {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  absl::Notification stopping;

  mutable absl::Mutex mu;
  std::map<std::pair<std::string, std::string>, Handler> exact ABSL_GUARDED_BY(mu);
  std::map<std::pair<std::string, std::string>, Handler> prefix ABSL_GUARDED_BY(mu);
  std::map<std::pair<std::string, std::string>, std::deque<ScriptedResponse>> queued
      ABSL_GUARDED_BY(mu);
  std::vector<RecordedRequest> log ABSL_GUARDED_BY(mu);
  absl::Duration latency ABSL_GUARDED_BY(mu) = absl::ZeroDuration();
  int in_flight ABSL_GUARDED_BY(mu) = 0;
  int max_in_flight ABSL_GUARDED_BY(mu) = 0;

  ScriptedResponse Dispatch(const RecordedRequest& request) {
    Handler handler;
    {
      absl::MutexLock lock(&mu);
      log.push_back(request);
      auto q = queued.find({request.method, request.path});
      if (q != queued.end() && !q->second.empty()) {
        ScriptedResponse r = std::move(q->second.front());
        q->second.pop_front();
        return r;
      }
      auto e = exact.find({request.method, request.path});
      if (e != exact.end()) {
        handler = e->second;
      } else {
        size_t best = 0;
        for (const auto& [key, h] : prefix) {
          if (key.first == request.method && absl::StartsWith(request.path, key.second) &&
              key.second.size() >= best) {
            best = key.second.size();
            handler = h;
          }
        }
      }
    }
    if (!handler) {
      return ScriptedResponse::Json(404, absl::StrCat(R"({"error":"no test route for )",
                                                      request.method, " ", request.path, R"("})"));
    }
    return handler(request);
  }
};

HttpTestServer::HttpTestServer() : impl_(std::make_unique<Impl>()) {}

HttpTestServer::~HttpTestServer() { Stop(); }

absl::Status HttpTestServer::Start() {
  Impl* impl = impl_.get();
  // Regular (not pre-routing) handlers: httplib reads the body before calling them.
  auto handler = [impl](const httplib::Request& req, httplib::Response& res) {
    RecordedRequest r;
    r.at = absl::Now();
    r.method = req.method;
    absl::string_view target = req.target;
    const size_t q = target.find('?');
    r.path = std::string(target.substr(0, q));
    if (q != absl::string_view::npos) {
      r.query = std::string(target.substr(q + 1));
      r.params = ParseForm(r.query);
    }
    for (const auto& [k, v] : req.headers) r.headers.emplace_back(k, v);
    r.body = req.body;
    absl::Duration latency;
    {
      absl::MutexLock lock(&impl->mu);
      latency = impl->latency;
      impl->max_in_flight = std::max(impl->max_in_flight, ++impl->in_flight);
    }
    ScriptedResponse out = impl->Dispatch(r);
    if (out.delay + latency > absl::ZeroDuration()) {
      impl->stopping.WaitForNotificationWithTimeout(out.delay + latency);
    }
    {
      absl::MutexLock lock(&impl->mu);
      --impl->in_flight;
    }
    res.status = out.status;
    for (const auto& [k, v] : out.headers) res.set_header(k, v);
    res.set_content(out.body, out.content_type.c_str());
  };
  // Enough workers for a connector's concurrent requests (httplib keeps one per
  // keep-alive connection), so the server never caps the concurrency a test measures.
  impl->server.new_task_queue = [] { return new httplib::ThreadPool(64); };
  impl->server.Get(".*", handler);
  impl->server.Post(".*", handler);
  impl->server.Put(".*", handler);
  impl->server.Patch(".*", handler);
  impl->server.Delete(".*", handler);
  impl->port = impl->server.bind_to_any_port("127.0.0.1");
  if (impl->port <= 0) return absl::InternalError("HttpTestServer: cannot bind 127.0.0.1");
  impl->thread = std::thread([impl] { impl->server.listen_after_bind(); });
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!impl->server.is_running()) {
    if (absl::Now() > give_up) return absl::InternalError("HttpTestServer: did not start");
    absl::SleepFor(absl::Milliseconds(1));
  }
  return absl::OkStatus();
}

void HttpTestServer::Stop() {
  if (!impl_->thread.joinable()) return;
  if (!impl_->stopping.HasBeenNotified()) impl_->stopping.Notify();
  impl_->server.stop();
  impl_->thread.join();
}

int HttpTestServer::port() const { return impl_->port; }

std::string HttpTestServer::base_url() const {
  return absl::StrCat("http://127.0.0.1:", impl_->port);
}

void HttpTestServer::Route(absl::string_view method, absl::string_view path, Handler handler) {
  absl::MutexLock lock(&impl_->mu);
  impl_->exact[{std::string(method), std::string(path)}] = std::move(handler);
}

void HttpTestServer::RoutePrefix(absl::string_view method, absl::string_view prefix,
                                 Handler handler) {
  absl::MutexLock lock(&impl_->mu);
  impl_->prefix[{std::string(method), std::string(prefix)}] = std::move(handler);
}

void HttpTestServer::Enqueue(absl::string_view method, absl::string_view path,
                             ScriptedResponse response) {
  absl::MutexLock lock(&impl_->mu);
  impl_->queued[{std::string(method), std::string(path)}].push_back(std::move(response));
}

std::vector<RecordedRequest> HttpTestServer::requests() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->log;
}

int HttpTestServer::Count(absl::string_view method, absl::string_view path) const {
  absl::MutexLock lock(&impl_->mu);
  int n = 0;
  for (const RecordedRequest& r : impl_->log) {
    if ((method.empty() || r.method == method) && r.path == path) ++n;
  }
  return n;
}

void HttpTestServer::SetLatency(absl::Duration latency) {
  absl::MutexLock lock(&impl_->mu);
  impl_->latency = latency;
}

int HttpTestServer::max_in_flight() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->max_in_flight;
}

void HttpTestServer::ClearRequests() {
  absl::MutexLock lock(&impl_->mu);
  impl_->log.clear();
}

}  // namespace dealcoach::connectors::testing
