#include "bench/loadgen/http_load.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/loadgen/histogram.h"
#include "nlohmann/json.hpp"

namespace dealcoach::bench {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string PercentEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

struct Conn {
  int fd = -1;
  bool busy = false;
  bool retried = false;
  int64_t intended_ns = 0;
  int64_t deadline_ns = 0;
  size_t request = 0;  // index into the prebuilt requests
  std::string in;
};

// A parsed response head, once the whole response is in `in`.
struct Parsed {
  bool complete = false;
  bool bad = false;
  int status = 0;
  bool close = false;
  size_t body_offset = 0;
  size_t body_length = 0;
};

Parsed ParseResponse(const std::string& in) {
  Parsed p;
  const size_t head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos) return p;
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::string_view(in).substr(0, head_end), "\r\n");
  // "HTTP/1.1 200 OK"
  if (lines.empty() || !absl::StartsWith(lines[0], "HTTP/1.") || lines[0].size() < 12 ||
      !absl::SimpleAtoi(lines[0].substr(9, 3), &p.status)) {
    p.bad = true;
    return p;
  }
  bool have_length = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) continue;
    const absl::string_view name = lines[i].substr(0, colon);
    const absl::string_view value = absl::StripAsciiWhitespace(lines[i].substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "content-length")) {
      have_length = absl::SimpleAtoi(value, &p.body_length);
    } else if (absl::EqualsIgnoreCase(name, "connection")) {
      p.close = absl::EqualsIgnoreCase(value, "close");
    } else if (absl::EqualsIgnoreCase(name, "transfer-encoding")) {
      p.bad = true;  // the gateway answers with a length; nothing else is expected
    }
  }
  if (!have_length) p.bad = true;
  if (p.bad) return p;
  p.body_offset = head_end + 4;
  p.complete = in.size() >= p.body_offset + p.body_length;
  return p;
}

class Runner {
 public:
  explicit Runner(const HttpLoadOptions& o) : o_(o) {}

  int Run() {
    const size_t colon = o_.target.rfind(':');
    int port = 0;
    std::string host = o_.target.substr(0, colon);
    if (host == "localhost") host = "127.0.0.1";
    if (colon == std::string::npos || !absl::SimpleAtoi(o_.target.substr(colon + 1), &port) ||
        inet_pton(AF_INET, host.c_str(), &addr_.sin_addr) != 1) {
      std::fprintf(stderr, "loadgen: http target must be 127.0.0.1:PORT, not %s\n",
                   o_.target.c_str());
      return 1;
    }
    addr_.sin_family = AF_INET;
    addr_.sin_port = htons(static_cast<uint16_t>(port));
    for (const std::string& id : o_.ids) {
      requests_.push_back(absl::StrCat("GET /v1/deals/", PercentEncode(id),
                                       "/guidance HTTP/1.1\r\nHost: ", o_.target,
                                       "\r\nAccept: application/json\r\n\r\n"));
    }
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    timer_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epoll_ < 0 || timer_ < 0) {
      std::perror("loadgen: epoll/timerfd");
      return 1;
    }
    epoll_event tev{};
    tev.events = EPOLLIN;
    tev.data.u32 = kTimerTag;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, timer_, &tev);
    conns_.resize(static_cast<size_t>(o_.concurrency));
    for (size_t i = 0; i < conns_.size(); ++i) {
      if (!Connect(i)) {
        std::fprintf(stderr, "loadgen: cannot connect to http://%s: %s\n", o_.target.c_str(),
                     std::strerror(errno));
        return 1;
      }
      idle_.push_back(i);
    }
    reconnects_ = 0;
    Loop();
    for (Conn& c : conns_) {
      if (c.fd >= 0) close(c.fd);
    }
    close(timer_);
    close(epoll_);
    return Report();
  }

 private:
  static constexpr uint32_t kTimerTag = 0xffffffffu;

  bool Connect(size_t i) {
    Conn& c = conns_[i];
    if (c.fd >= 0) close(c.fd);
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return false;
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    // Blocking connect (loopback: microseconds), then non-blocking I/O.
    if (connect(c.fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof(addr_)) != 0) {
      close(c.fd);
      c.fd = -1;
      return false;
    }
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev);
    c.in.clear();
    ++reconnects_;
    return true;
  }

  // Sends conn i's current request; false when the connection is gone.
  bool Write(size_t i) {
    Conn& c = conns_[i];
    const std::string& r = requests_[c.request];
    size_t off = 0;
    while (off < r.size()) {
      const ssize_t n = send(c.fd, r.data() + off, r.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (off == 0 || (n < 0 && errno != EAGAIN)) {
        return false;
      } else {
        // A short write of ~120 bytes into an empty socket buffer does not happen on
        // loopback; treat it as a failure rather than tracking EPOLLOUT.
        return false;
      }
    }
    return true;
  }

  void Issue(size_t i, int64_t intended_ns) {
    Conn& c = conns_[i];
    c.busy = true;
    c.retried = false;
    c.intended_ns = intended_ns;
    c.deadline_ns = NowNs() + static_cast<int64_t>(o_.request_timeout_s * 1e9);
    c.request = next_request_;
    next_request_ = (next_request_ + 1) % requests_.size();
    c.in.clear();
    ++outstanding_;
    if (!Write(i)) Retry(i, "send failed");
  }

  // The server closed the connection before answering (an idle close racing our
  // request): reopen and resend once, as HTTP clients do for an idempotent GET.
  void Retry(size_t i, const char* why) {
    Conn& c = conns_[i];
    if (!c.retried && Connect(i)) {
      c.retried = true;
      if (Write(i)) return;
    }
    Fail(i, why);
  }

  void Fail(size_t i, const std::string& kind) {
    ++errors_[kind];
    Finish(i);
    if (!Connect(i)) {
      conns_[i].fd = -1;  // stays out of the idle list
      return;
    }
    idle_.push_back(i);
  }

  void Finish(size_t i) {
    conns_[i].busy = false;
    conns_[i].in.clear();
    --outstanding_;
  }

  void Complete(size_t i, int64_t done_ns) {
    if (done_ns >= measure_ns_ && done_ns < end_ns_) ++completed_in_window_;
    if (conns_[i].intended_ns >= measure_ns_ && conns_[i].intended_ns < end_ns_) {
      histogram_.Record(done_ns - conns_[i].intended_ns);
    }
  }

  void OnReadable(size_t i) {
    Conn& c = conns_[i];
    char buf[65536];
    bool eof = false;
    while (true) {
      const ssize_t n = read(c.fd, buf, sizeof(buf));
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n == 0 || (n < 0 && errno != EAGAIN)) eof = true;
      break;
    }
    if (!c.busy) {
      // An idle connection closed by the server (keep-alive timeout): reopen it.
      if (eof && Connect(i)) return;
      if (eof) {
        idle_.erase(std::remove(idle_.begin(), idle_.end(), i), idle_.end());
        c.fd = -1;
      }
      return;
    }
    const Parsed p = ParseResponse(c.in);
    if (p.bad) {
      Fail(i, "malformed response");
      return;
    }
    if (!p.complete) {
      if (eof) {
        if (c.in.empty()) {
          Retry(i, "connection closed before the response");
        } else {
          Fail(i, "connection closed mid-response");
        }
      }
      return;
    }
    const int64_t done_ns = NowNs();
    if (p.status != 200) {
      Fail(i, absl::StrCat("HTTP ", p.status));
      return;
    }
    if (absl::string_view(c.in).substr(p.body_offset, 16).find("\"guidance\"") ==
        absl::string_view::npos) {
      Fail(i, "200 without a guidance object");
      return;
    }
    Complete(i, done_ns);
    Finish(i);
    if (p.close || eof) {
      if (!Connect(i)) {
        c.fd = -1;
        return;
      }
    }
    idle_.push_back(i);
  }

  void ArmTimer(int64_t wake_ns) {
    if (wake_ns == armed_ns_) return;
    armed_ns_ = wake_ns;
    itimerspec t{};
    t.it_value.tv_sec = wake_ns / 1000000000;
    t.it_value.tv_nsec = wake_ns % 1000000000;
    if (t.it_value.tv_sec == 0 && t.it_value.tv_nsec == 0) t.it_value.tv_nsec = 1;
    timerfd_settime(timer_, TFD_TIMER_ABSTIME, &t, nullptr);
  }

  void Loop() {
    start_ns_ = NowNs();
    measure_ns_ = start_ns_ + static_cast<int64_t>(o_.warmup_s * 1e9);
    end_ns_ = measure_ns_ + static_cast<int64_t>(o_.duration_s * 1e9);
    const int64_t drain_end_ns = end_ns_ + static_cast<int64_t>(o_.request_timeout_s * 1e9);
    const bool rate_mode = o_.mode == "rate";
    const double interval_ns = rate_mode ? 1e9 / o_.rate : 0;
    auto intended_at = [&](int64_t k) {
      return start_ns_ + static_cast<int64_t>(static_cast<double>(k) * interval_ns);
    };
    int64_t next_timeout_scan = 0;
    std::vector<epoll_event> events(conns_.size() + 1);
    while (true) {
      int64_t now = NowNs();
      if (now < end_ns_) {
        if (rate_mode) {
          while (intended_at(scheduled_) <= now && !idle_.empty() && issued_ < o_.max_requests) {
            const size_t i = idle_.front();
            idle_.pop_front();
            Issue(i, intended_at(scheduled_));
            ++scheduled_;
            ++issued_;
          }
        } else {
          while (!idle_.empty() && issued_ < o_.max_requests) {
            const size_t i = idle_.front();
            idle_.pop_front();
            Issue(i, NowNs());
            ++issued_;
          }
        }
      }
      if (now >= end_ns_ && outstanding_ == 0) break;
      if (now >= drain_end_ns) {
        timed_out_ = true;
        break;
      }
      if (now >= next_timeout_scan) {
        for (size_t i = 0; i < conns_.size(); ++i) {
          if (conns_[i].busy && now > conns_[i].deadline_ns) Fail(i, "timeout");
        }
        next_timeout_scan = now + 50'000'000;
      }
      int64_t wake_ns = std::min(drain_end_ns, next_timeout_scan);
      if (rate_mode && now < end_ns_ && !idle_.empty()) {
        wake_ns = std::min(wake_ns, std::min(intended_at(scheduled_), end_ns_));
      } else if (now < end_ns_) {
        wake_ns = std::min(wake_ns, end_ns_);
      }
      int timeout_ms = -1;
      if (wake_ns <= now) {
        timeout_ms = 0;
      } else {
        ArmTimer(wake_ns);
      }
      const int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), timeout_ms);
      for (int k = 0; k < n; ++k) {
        const uint32_t tag = events[static_cast<size_t>(k)].data.u32;
        if (tag == kTimerTag) {
          uint64_t expirations;
          (void)!read(timer_, &expirations, sizeof(expirations));
          armed_ns_ = -1;
          continue;
        }
        if (conns_[tag].fd >= 0) OnReadable(tag);
      }
    }
    if (rate_mode) {
      while (intended_at(scheduled_) < end_ns_ && scheduled_ < o_.max_requests) {
        ++scheduled_;
        ++unsent_;
      }
    }
    if (timed_out_) {
      std::fprintf(stderr, "loadgen: %lld http requests still outstanding after the drain\n",
                   static_cast<long long>(outstanding_));
    }
  }

  int Report() {
    int64_t error_count = 0;
    nlohmann::json errs = nlohmann::json::object();
    for (const auto& [k, v] : errors_) {
      errs[k] = v;
      error_count += v;
    }
    const bool rate_mode = o_.mode == "rate";
    auto us = [](int64_t ns) { return static_cast<double>(ns) / 1000.0; };
    // The keys of loadgen.cc's gRPC result, so the report reads both alike.
    nlohmann::json out = {
        {"label", o_.label},
        {"rpc", "http_guidance_id"},
        {"transport", "HTTP/1.1 keep-alive, GET /v1/deals/{id}/guidance"},
        {"mode", o_.mode},
        {"concurrency", o_.concurrency},
        {"offered_rate", rate_mode ? o_.rate : 0.0},
        {"duration_s", o_.duration_s},
        {"warmup_s", o_.warmup_s},
        {"issued", issued_},
        {"recorded", histogram_.count()},
        {"completed_in_window", completed_in_window_},
        {"throughput_rps", static_cast<double>(completed_in_window_) / o_.duration_s},
        {"errors", error_count},
        {"error_kinds", errs},
        {"unsent", unsent_},
        // Connections opened, past the first `concurrency` (the server's keep-alive
        // request limit and idle closes).
        {"reconnects", reconnects_},
        {"sustained", error_count == 0 && unsent_ * 1000 <= std::max<int64_t>(1, scheduled_)},
        {"latency_us",
         {{"p50", us(histogram_.ValueAtQuantile(0.50))},
          {"p90", us(histogram_.ValueAtQuantile(0.90))},
          {"p99", us(histogram_.ValueAtQuantile(0.99))},
          {"p999", us(histogram_.ValueAtQuantile(0.999))},
          {"max", us(histogram_.max())},
          {"mean", histogram_.mean() / 1000.0}}},
    };
    const std::string text = out.dump(2);
    if (o_.out.empty()) {
      std::cout << text << "\n";
    } else {
      std::ofstream f(o_.out);
      f << text << "\n";
      if (!f) return 1;
    }
    return error_count > 0 ? 3 : 0;
  }

  HttpLoadOptions o_;
  sockaddr_in addr_{};
  std::vector<std::string> requests_;
  size_t next_request_ = 0;
  int epoll_ = -1;
  int timer_ = -1;
  int64_t armed_ns_ = -1;
  std::vector<Conn> conns_;
  std::deque<size_t> idle_;
  LatencyHistogram histogram_;
  std::map<std::string, int64_t> errors_;
  int64_t start_ns_ = 0, measure_ns_ = 0, end_ns_ = 0;
  int64_t scheduled_ = 0, issued_ = 0, outstanding_ = 0, completed_in_window_ = 0, unsent_ = 0;
  int64_t reconnects_ = 0;
  bool timed_out_ = false;
};

}  // namespace

int RunHttpLoad(const HttpLoadOptions& options) {
  if (options.ids.empty()) {
    std::fprintf(stderr, "loadgen: the http mode needs --ids or --ids-json\n");
    return 2;
  }
  Runner runner(options);
  return runner.Run();
}

}  // namespace dealcoach::bench
