// The load generator's HTTP mode: GET /v1/deals/{id}/guidance over HTTP/1.1 keep-alive
// against the sidecar's HTTP/JSON listener, with the same closed / fixed-rate loops,
// the same latency histogram and the same JSON result keys as the gRPC modes
// (loadgen.cc), so scripts/bench.sh can pair the two transports round by round.
//
// One thread drives `concurrency` non-blocking keep-alive connections with epoll; each
// connection has at most one request in flight (HTTP/1.1 without pipelining, as a
// browser or a CRM's HTTP client uses it), so `concurrency` is the number of
// connections and bounds the requests in flight, as it bounds the gRPC calls
// outstanding on the one HTTP/2 channel. A connection the server closes (Connection:
// close, or an idle close) is reopened; that cost is charged to the request on it.
// In rate mode latency is measured from each request's intended send time (no
// coordinated omission), as in the gRPC loop.
//
// Thread safety: RunHttpLoad is self-contained; call it from one thread.
#ifndef DEALCOACH_BENCH_LOADGEN_HTTP_LOAD_H_
#define DEALCOACH_BENCH_LOADGEN_HTTP_LOAD_H_

#include <cstdint>
#include <string>
#include <vector>

namespace dealcoach::bench {

struct HttpLoadOptions {
  std::string target;           // 127.0.0.1:PORT (the sidecar's http.listen), loopback only
  std::string mode = "closed";  // closed | rate
  int concurrency = 16;         // connections
  double rate = 0;              // requests per second, rate mode
  double duration_s = 5;
  double warmup_s = 1;
  int64_t max_requests = 50000000;
  double request_timeout_s = 5;
  std::vector<std::string> ids;  // opportunity ids, requested round-robin
  std::string label;
  std::string out;  // result file; empty = stdout
};

// Runs the load and writes the result JSON. Exit code: 0 ok, 1 cannot connect or
// write, 3 some requests failed (non-200, reset, timeout; counted by kind).
int RunHttpLoad(const HttpLoadOptions& options);

}  // namespace dealcoach::bench

#endif  // DEALCOACH_BENCH_LOADGEN_HTTP_LOAD_H_
