// AdminHttpServer: the operator's HTTP listener (cpp-httplib), apart from the API
// listeners so that probes and scrapes never queue behind coaching traffic:
//
//   GET /metrics  Prometheus text format (ServerMetrics::Scrape)
//   GET /healthz  200 "ok" while the process serves at all (liveness)
//   GET /readyz   200 "ready" when `ready()` says so, else 503 with the reason
//                 (readiness: a replica takes traffic only once its playbook loaded)
//
// Anything else is 404; only GET and HEAD are answered. Bodies are never read.
//
// Thread safety: Start/Stop from one thread; handlers run on httplib's pool.
#ifndef DEALCOACH_SIDECAR_METRICS_ADMIN_HTTP_H_
#define DEALCOACH_SIDECAR_METRICS_ADMIN_HTTP_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sidecar/metrics/metrics.h"

namespace httplib {
class Server;
}

namespace dealcoach::metrics {

struct AdminHttpOptions {
  // host:port; port 0 picks a free one (see port()).
  std::string listen = "127.0.0.1:0";
  // Readiness: OK when ready, else the reason (the body of the 503).
  std::function<absl::Status()> ready;
};

class AdminHttpServer {
 public:
  // Binds and starts serving on a background thread. Unavailable when the address
  // cannot be bound; InvalidArgument when it is not host:port.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<AdminHttpServer>> Start(
      const AdminHttpOptions& options, const ServerMetrics* metrics);
  ~AdminHttpServer();  // Stops.

  int port() const { return port_; }
  void Stop();

 private:
  AdminHttpServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace dealcoach::metrics

#endif  // DEALCOACH_SIDECAR_METRICS_ADMIN_HTTP_H_
