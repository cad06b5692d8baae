// HttpGateway: the sidecar's HTTP/JSON listener, beside gRPC, for CRM pages and kits.
//
// It is a transcoder, as grpc-gateway and AIP-127 describe one, not a second handler
// layer: every API route builds the request proto, calls the real gRPC service through
// a channel it is given (the server's in-process channel), and prints the answer. So
// HTTP and gRPC run the same validation, the same handlers and the same errors, and
// cannot disagree.
//
//   HTTP request -> route table (method + path pattern)
//     -> request proto from path variables, query parameters and the JSON body
//        (protobuf's util::JsonStringToMessage; unknown fields rejected, naming them)
//     -> stub call with a deadline and forwarded metadata
//        (Authorization, X-Request-Id and X-Dealcoach-* headers become gRPC metadata)
//     -> util::MessageToJsonString (proto3 JSON, lowerCamelCase names)
//   errors: the google.rpc.Status JSON shape {"code", "message", "details"} with the
//   HTTP status of the standard gRPC <-> HTTP mapping (HttpStatusForCode).
//
// Also served: ETag / If-None-Match on routes that declare it (guidance), gzip or
// brotli when the client accepts it (cpp-httplib built with zlib and brotli), CORS for
// the configured origins, the coaching panel's static files under /ui/ and /panel
// (compiled into the binary; nothing is read from disk), and optionally HubSpot's
// X-HubSpot-Signature-v3 check on every /v1/ route (hubspot_signature.h).
//
// Adding a route is one entry in ApiRoutes() (routes.cc):
//   {Verb::kGet, "/v1/reps/{rep_id}/agenda", BodyMapping::kNone,
//    Bind(&v1::CoachingService::Stub::GetCoachingAgenda),
//    "dealcoach.v1.CoachingService.GetCoachingAgenda"},
// plus its path in docs/openapi.yaml; tests/http checks that every RPC of the public
// services has a route and that every route is in the OpenAPI document.
//
// Thread safety: Start/Shutdown from one thread; requests are served on the gateway's
// own thread pool and only share immutable state (the route table, the channel).
#ifndef DEALCOACH_SIDECAR_HTTP_HTTP_GATEWAY_H_
#define DEALCOACH_SIDECAR_HTTP_HTTP_GATEWAY_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "sidecar/http/tls_listener.h"

namespace httplib {
class Server;
}

namespace dealcoach::http {

struct HttpOptions {
  // host:port to listen on. Default "" = no HTTP listener. Port 0 picks a free port.
  // Use a loopback address (127.0.0.1:8080) unless a TLS proxy fronts the sidecar.
  std::string listen;
  // Origins (scheme://host[:port]) whose pages may call the API from a browser and
  // frame the panel (CORS and the panel's frame-ancestors). "*" allows any origin.
  // The sidecar's own origin is always allowed. Default: none.
  std::vector<std::string> cors_allowed_origins;
  // Largest request body; larger ones get 413 before any parsing. Default: 1 MiB.
  int64_t max_body_bytes = 1 << 20;
  // Deadline of the gRPC call behind each request. Default: 10 s.
  absl::Duration request_timeout = absl::Seconds(10);
  // Server threads. cpp-httplib serves each connection on one pool thread until it
  // closes (an idle keep-alive connection holds its thread up to 2 s), so this bounds
  // concurrent connections, not only requests in flight. Default: 32.
  int threads = 32;
  // When non-empty, every /v1/ request must carry a valid X-HubSpot-Signature-v3 made
  // with this client secret (HubSpot app cards calling through hubspot.fetch).
  // A secret: give it by environment variable, not in a committed file.
  std::string hubspot_client_secret;
  // The URL HubSpot calls, scheme and host ("https://dealcoach.example.com"), since
  // the signed URI is the public one, not what a TLS proxy forwards. Required with
  // hubspot_client_secret.
  std::string public_url;
  // TLS, or mutual TLS with client_ca_file, certificates re-read without a restart
  // (tls_listener.h). Empty cert_file = plaintext; the server refuses that on a
  // non-loopback address unless `insecure: true`.
  TlsListenerOptions tls;
};

// A request body mapping, as in google.api.http: kNone takes the request from the path
// and the query; kWhole parses the body as the whole request, path variables on top.
enum class BodyMapping { kNone, kWhole };
enum class Verb { kGet, kPost };

// The typed part of a route: makes an empty request and calls the stub.
struct RpcBinding {
  std::function<std::unique_ptr<google::protobuf::Message>()> new_request;
  std::function<grpc::Status(const std::shared_ptr<grpc::ChannelInterface>& channel,
                             grpc::ClientContext* context, const google::protobuf::Message& request,
                             std::unique_ptr<google::protobuf::Message>* response)>
      call;
};

// Binds a generated stub method, e.g. Bind(&v1::CoachingService::Stub::GetDealGuidance).
template <typename Stub, typename Req, typename Resp>
RpcBinding Bind(grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*)) {
  RpcBinding b;
  b.new_request = [] { return std::make_unique<Req>(); };
  b.call = [method](const std::shared_ptr<grpc::ChannelInterface>& channel,
                    grpc::ClientContext* context, const google::protobuf::Message& request,
                    std::unique_ptr<google::protobuf::Message>* response) {
    Stub stub(channel);
    auto resp = std::make_unique<Resp>();
    grpc::Status s = (stub.*method)(context, static_cast<const Req&>(request), resp.get());
    *response = std::move(resp);
    return s;
  };
  return b;
}

struct Route {
  Verb verb;
  // Path with {field} variables, each matching one non-empty segment and setting that
  // request field ("/v1/deals/{opportunity_id}/guidance").
  std::string pattern;
  BodyMapping body;
  RpcBinding rpc;
  // Full method name, checked against the descriptor pool at start-up and used by the
  // coverage test ("dealcoach.v1.CoachingService.GetDealGuidance").
  std::string method;
  // Response fields that vary on every call without changing what a person sees
  // ("guidance.evaluated_at"): left out of the ETag. Empty (and etag false) = no ETag.
  bool etag = false;
  std::vector<std::string> etag_ignore;
};

// The API routes (routes.cc).
const std::vector<Route>& ApiRoutes();

// The standard mapping (google/rpc/code.proto): NOT_FOUND -> 404, INVALID_ARGUMENT,
// FAILED_PRECONDITION and OUT_OF_RANGE -> 400, UNAVAILABLE -> 503, ...
int HttpStatusForCode(grpc::StatusCode code);

class HttpGateway {
 public:
  // Binds options.listen and starts serving on a background thread. `channel` reaches
  // the gRPC services (Server::InProcessChannel) and must stay valid until Shutdown.
  // Errors: InvalidArgument for bad options (a route naming an unknown method, a
  // HubSpot secret without public_url), Unavailable when the address cannot be bound.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<HttpGateway>> Start(
      const HttpOptions& options, std::shared_ptr<grpc::ChannelInterface> channel);
  ~HttpGateway();

  int port() const { return port_; }
  // "127.0.0.1:<port>".
  const std::string& address() const { return address_; }

  // Stops accepting, lets in-flight requests finish, joins the thread. Idempotent.
  void Shutdown();

 private:
  HttpGateway() = default;
  HttpOptions options_;
  std::shared_ptr<grpc::ChannelInterface> channel_;
  std::unique_ptr<ReloadingTlsContext> tls_;  // outlives server_ (its ClientHello callback)
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::string address_;
};

}  // namespace dealcoach::http

#endif  // DEALCOACH_SIDECAR_HTTP_HTTP_GATEWAY_H_
