#include "sidecar/http/http_gateway.h"

#include <httplib.h>
#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "nlohmann/json.hpp"
#include "sidecar/auth/grpc_credentials.h"
#include "sidecar/http/hubspot_signature.h"
#include "sidecar/http/panel_assets.h"

namespace dealcoach::http {
namespace {

namespace pb = google::protobuf;

// Query parameters hubspot.fetch adds to every call (its request context); dropped once
// the signature over them has been checked, so they are not taken for request fields.
constexpr const char* kHubSpotContextParams[] = {"userId", "portalId", "userEmail", "appId"};

struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

// A google.rpc.Status JSON body. Built as a proto and printed by protobuf, like every
// API message; the printer resolves Any details through the generated pool.
Reply StatusReply(int http_status, grpc::StatusCode code, absl::string_view message,
                  const std::string& details_bin = "") {
  // The details gRPC carried (grpc-status-details-bin) are a google.rpc.Status already.
  google::rpc::Status status;
  if (details_bin.empty() || !status.ParseFromString(details_bin)) status.Clear();
  status.set_code(static_cast<int>(code));
  status.set_message(std::string(message));
  Reply r;
  r.status = http_status;
  if (!pb::util::MessageToJsonString(status, &r.body).ok()) {
    status.clear_details();  // a detail type this binary does not know
    (void)pb::util::MessageToJsonString(status, &r.body);
  }
  return r;
}

Reply GatewayError(grpc::StatusCode code, absl::string_view message, int http_status = 0) {
  return StatusReply(http_status != 0 ? http_status : HttpStatusForCode(code), code, message);
}

// ---- request building -------------------------------------------------------------

const pb::FieldDescriptor* FindField(const pb::Descriptor* d, absl::string_view name) {
  const pb::FieldDescriptor* f = d->FindFieldByName(std::string(name));
  if (f == nullptr) f = d->FindFieldByCamelcaseName(std::string(name));
  return f;
}

// One query parameter or path variable as a proto3 JSON value, by the field's type:
// proto3 JSON accepts numbers, enums, Timestamps and Durations as strings, so only
// bools need converting.
absl::StatusOr<nlohmann::json> ScalarJson(const pb::FieldDescriptor* f, const std::string& where,
                                          const std::string& value) {
  if (f->type() == pb::FieldDescriptor::TYPE_BOOL) {
    if (value == "true") return nlohmann::json(true);
    if (value == "false") return nlohmann::json(false);
    return absl::InvalidArgumentError(absl::StrCat(where, ": must be true or false"));
  }
  if (f->type() == pb::FieldDescriptor::TYPE_MESSAGE) {
    const std::string& t = f->message_type()->full_name();
    if (t != "google.protobuf.Timestamp" && t != "google.protobuf.Duration") {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": a message field (", t, ") cannot be set from the URL; send it in a body"));
    }
  }
  return nlohmann::json(value);
}

// Adds `path` ("a.b") = values into `obj`, checking each segment against the descriptor,
// so a typo is "query parameter 'playbok': no field 'playbok' in dealcoach.v1.X".
absl::Status AddParam(const pb::Descriptor* d, const std::string& where, const std::string& path,
                      const std::vector<std::string>& values, nlohmann::json* obj) {
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  nlohmann::json* node = obj;
  for (size_t i = 0; i < parts.size(); ++i) {
    const pb::FieldDescriptor* f = FindField(d, parts[i]);
    if (f == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": no field '", parts[i], "' in ", d->full_name()));
    }
    if (i + 1 < parts.size()) {
      if (f->type() != pb::FieldDescriptor::TYPE_MESSAGE || f->is_repeated()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": '", parts[i], "' is not a message field"));
      }
      node = &(*node)[f->name()];
      d = f->message_type();
      continue;
    }
    if (f->is_map()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": a map field cannot be set from the URL"));
    }
    if (f->is_repeated()) {
      nlohmann::json arr = nlohmann::json::array();
      for (const std::string& v : values) {
        absl::StatusOr<nlohmann::json> j = ScalarJson(f, where, v);
        if (!j.ok()) return j.status();
        arr.push_back(*std::move(j));
      }
      (*node)[f->name()] = std::move(arr);
    } else {
      if (values.size() != 1) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": given more than once"));
      }
      absl::StatusOr<nlohmann::json> j = ScalarJson(f, where, values[0]);
      if (!j.ok()) return j.status();
      (*node)[f->name()] = *std::move(j);
    }
  }
  return absl::OkStatus();
}

absl::Status ParseJsonInto(absl::string_view json, pb::Message* msg, absl::string_view what) {
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a misspelt field is an error, named
  auto status = pb::util::JsonStringToMessage(std::string(json), msg, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": not a valid ",
                                                   msg->GetDescriptor()->full_name(), " (",
                                                   std::string(status.message()), ")"));
  }
  return absl::OkStatus();
}

// ---- routing ------------------------------------------------------------------------

struct CompiledRoute {
  const Route* route;
  std::vector<std::string> segments;  // "{name}" for variables
};

bool MatchPath(const CompiledRoute& r, const std::vector<std::string>& path,
               std::vector<std::pair<std::string, std::string>>* vars) {
  if (r.segments.size() != path.size()) return false;
  vars->clear();
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string& s = r.segments[i];
    if (s.size() > 2 && s.front() == '{' && s.back() == '}') {
      if (path[i].empty()) return false;
      vars->emplace_back(s.substr(1, s.size() - 2), path[i]);
    } else if (s != path[i]) {
      return false;
    }
  }
  return true;
}

// Clears a dotted field path in a message (ETag input).
void ClearPath(pb::Message* msg, absl::string_view path) {
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    const pb::FieldDescriptor* f = msg->GetDescriptor()->FindFieldByName(parts[i]);
    const pb::Reflection* refl = msg->GetReflection();
    if (f == nullptr || f->is_repeated()) return;
    if (i + 1 == parts.size()) {
      refl->ClearField(msg, f);
      return;
    }
    if (f->type() != pb::FieldDescriptor::TYPE_MESSAGE || !refl->HasField(*msg, f)) return;
    msg = refl->MutableMessage(msg, f);
  }
}

std::string WeakEtag(const pb::Message& response, const std::vector<std::string>& ignore) {
  std::unique_ptr<pb::Message> copy(response.New());
  copy->CopyFrom(response);
  for (const std::string& p : ignore) ClearPath(copy.get(), p);
  std::string bytes;
  {
    pb::io::StringOutputStream out(&bytes);
    pb::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    copy->SerializeToCodedStream(&coded);
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  // 128 bits is plenty to tell two answers apart.
  return absl::StrCat(
      "W/\"", absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), 16)),
      "\"");
}

bool EtagMatches(const std::string& if_none_match, const std::string& etag) {
  if (if_none_match.empty()) return false;
  // Weak comparison (RFC 9110 13.1.2): W/ prefixes don't matter.
  auto strip = [](absl::string_view t) {
    t = absl::StripAsciiWhitespace(t);
    absl::ConsumePrefix(&t, "W/");
    return t;
  };
  for (absl::string_view tag : absl::StrSplit(if_none_match, ',')) {
    if (strip(tag) == "*" || strip(tag) == strip(etag)) return true;
  }
  return false;
}

bool IsPrintableAscii(absl::string_view v) {
  for (char c : v) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

class Handler {
 public:
  Handler(const HttpOptions& options, std::shared_ptr<grpc::ChannelInterface> channel)
      : options_(options), channel_(std::move(channel)) {
    for (const Route& r : ApiRoutes()) {
      CompiledRoute c{&r, absl::StrSplit(absl::string_view(r.pattern).substr(1), '/')};
      routes_.push_back(std::move(c));
    }
  }

  // True when the Origin header may use the API / frame the panel.
  bool OriginAllowed(const httplib::Request& req) const {
    const std::string origin = req.get_header_value("Origin");
    if (origin.empty()) return true;
    const std::string host = req.get_header_value("Host");
    if (!host.empty() && (origin == "http://" + host || origin == "https://" + host)) return true;
    for (const std::string& o : options_.cors_allowed_origins) {
      if (o == "*" || o == origin) return true;
    }
    return false;
  }

  void AddCors(const httplib::Request& req, httplib::Response* res) const {
    const std::string origin = req.get_header_value("Origin");
    if (origin.empty() || !OriginAllowed(req)) return;
    res->set_header("Access-Control-Allow-Origin", origin);
    res->set_header("Vary", "Origin");
    res->set_header("Access-Control-Expose-Headers", "ETag");
  }

  void Preflight(const httplib::Request& req, httplib::Response* res) const {
    if (!OriginAllowed(req)) {
      Write(GatewayError(grpc::StatusCode::PERMISSION_DENIED,
                         absl::StrCat("origin ", req.get_header_value("Origin"),
                                      " is not in http.cors_allowed_origins")),
            res);
      return;
    }
    AddCors(req, res);
    res->status = 204;
    res->set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    res->set_header("Access-Control-Allow-Headers",
                    "Authorization, Content-Type, If-None-Match, X-Request-Id, X-Dealcoach-Tenant");
    res->set_header("Access-Control-Max-Age", "600");
  }

  void Api(const httplib::Request& req, httplib::Response* res) const {
    AddCors(req, res);
    res->set_header("Cache-Control", "private, no-cache");
    res->set_header("X-Content-Type-Options", "nosniff");
    if (!OriginAllowed(req)) {
      Write(GatewayError(grpc::StatusCode::PERMISSION_DENIED,
                         absl::StrCat("origin ", req.get_header_value("Origin"),
                                      " is not in http.cors_allowed_origins")),
            res);
      return;
    }
    Write(Dispatch(req, res), res);
  }

  static void Write(const Reply& r, httplib::Response* res) {
    res->status = r.status;
    if (r.status == 304) return;
    res->set_content(r.body, r.content_type.c_str());
  }

 private:
  Reply Dispatch(const httplib::Request& req, httplib::Response* res) const {
    std::vector<std::pair<std::string, std::string>> params(req.params.begin(), req.params.end());
    std::optional<auth::HubSpotCaller> hubspot;
    if (!options_.hubspot_client_secret.empty()) {
      absl::Status s = VerifyHubSpotSignatureV3(
          options_.hubspot_client_secret, req.method, absl::StrCat(options_.public_url, req.target),
          req.body, req.get_header_value("X-HubSpot-Request-Timestamp"),
          req.get_header_value("X-HubSpot-Signature-v3"), absl::Now());
      if (!s.ok()) return GatewayError(grpc::StatusCode::UNAUTHENTICATED, s.message());
      hubspot = auth::HubSpotCaller{req.get_param_value("portalId"), req.get_param_value("userId")};
      params.erase(std::remove_if(params.begin(), params.end(),
                                  [](const auto& p) {
                                    for (const char* k : kHubSpotContextParams) {
                                      if (p.first == k) return true;
                                    }
                                    return false;
                                  }),
                   params.end());
    }

    const Verb verb = req.method == "POST" ? Verb::kPost : Verb::kGet;
    std::vector<std::string> path = absl::StrSplit(absl::string_view(req.path).substr(1), '/');
    std::vector<std::pair<std::string, std::string>> vars;
    const CompiledRoute* found = nullptr;
    std::vector<std::string> allowed;
    for (const CompiledRoute& c : routes_) {
      if (!MatchPath(c, path, &vars)) continue;
      allowed.push_back(c.route->verb == Verb::kPost ? "POST" : "GET");
      if (c.route->verb == verb) {
        found = &c;
        break;
      }
    }
    if (found == nullptr) {
      if (!allowed.empty()) {
        res->set_header("Allow", absl::StrJoin(allowed, ", "));
        return GatewayError(grpc::StatusCode::UNIMPLEMENTED,
                            absl::StrCat(req.method, " ", req.path, ": method not allowed; use ",
                                         absl::StrJoin(allowed, " or ")),
                            405);
      }
      return GatewayError(
          grpc::StatusCode::NOT_FOUND,
          absl::StrCat("no route for ", req.method, " ", req.path, " (see docs/http-api.md)"));
    }
    const Route& route = *found->route;
    MatchPath(*found, path, &vars);

    std::unique_ptr<pb::Message> request = route.rpc.new_request();
    const pb::Descriptor* d = request->GetDescriptor();
    if (route.body == BodyMapping::kWhole) {
      std::string type = absl::AsciiStrToLower(req.get_header_value("Content-Type"));
      if (!absl::StartsWith(type, "application/json")) {
        return GatewayError(grpc::StatusCode::INVALID_ARGUMENT,
                            "Content-Type: send the request as application/json", 415);
      }
      if (!params.empty()) {
        return GatewayError(
            grpc::StatusCode::INVALID_ARGUMENT,
            absl::StrCat("query parameter '", params[0].first,
                         "': this route takes its request in the body, not the URL"));
      }
      absl::Status s = ParseJsonInto(req.body.empty() ? absl::string_view("{}") : req.body,
                                     request.get(), "body");
      if (!s.ok()) return GatewayError(grpc::StatusCode::INVALID_ARGUMENT, s.message());
    } else if (!req.body.empty()) {
      return GatewayError(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat(req.method, " ", route.pattern, " takes no body"));
    }
    // Path variables and query parameters, through the same JSON parser.
    nlohmann::json fields = nlohmann::json::object();
    for (const auto& [name, value] : vars) {
      absl::Status s =
          AddParam(d, absl::StrCat("path variable '", name, "'"), name, {value}, &fields);
      if (!s.ok()) return GatewayError(grpc::StatusCode::INVALID_ARGUMENT, s.message());
    }
    std::map<std::string, std::vector<std::string>> grouped;
    for (const auto& [k, v] : params) grouped[k].push_back(v);
    for (const auto& [k, values] : grouped) {
      absl::Status s = AddParam(d, absl::StrCat("query parameter '", k, "'"), k, values, &fields);
      if (!s.ok()) return GatewayError(grpc::StatusCode::INVALID_ARGUMENT, s.message());
    }
    if (!fields.empty()) {
      std::unique_ptr<pb::Message> from_url(request->New());
      absl::Status s = ParseJsonInto(fields.dump(), from_url.get(), "path and query");
      if (!s.ok()) return GatewayError(grpc::StatusCode::INVALID_ARGUMENT, s.message());
      request->MergeFrom(*from_url);
    }

    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoMilliseconds(options_.request_timeout));
    for (const auto& [key, value] : req.headers) {
      std::string k = absl::AsciiStrToLower(key);
      if (k != "authorization" && k != "x-request-id" && !absl::StartsWith(k, "x-dealcoach-")) {
        continue;
      }
      if (!IsPrintableAscii(value)) {
        return GatewayError(grpc::StatusCode::INVALID_ARGUMENT,
                            absl::StrCat("header ", key, ": must be printable ASCII"));
      }
      context.AddMetadata(k, value);
    }
    context.AddMetadata("x-forwarded-for", req.remote_addr);
    // What this listener verified (the TLS client certificate, a HubSpot signature),
    // vouched for to the authorizer with the process's gateway token.
    std::vector<std::string> peers = VerifiedPeerSubjects(req.ssl);
    if (!peers.empty() || hubspot.has_value()) {
      context.AddMetadata(auth::kGatewayTokenKey, auth::GatewayToken());
      for (const std::string& p : peers) {
        if (IsPrintableAscii(p)) context.AddMetadata(auth::kGatewayPeerKey, p);
      }
      if (hubspot.has_value() && IsPrintableAscii(hubspot->portal_id) &&
          IsPrintableAscii(hubspot->user_id)) {
        context.AddMetadata(auth::kGatewayHubSpotKey,
                            absl::StrCat(hubspot->portal_id, "/", hubspot->user_id));
      }
    }

    std::unique_ptr<pb::Message> response;
    grpc::Status status = route.rpc.call(channel_, &context, *request, &response);
    if (!status.ok()) {
      return StatusReply(HttpStatusForCode(status.error_code()), status.error_code(),
                         status.error_message(), status.error_details());
    }
    if (route.etag) {
      std::string etag = WeakEtag(*response, route.etag_ignore);
      res->set_header("ETag", etag);
      if (EtagMatches(req.get_header_value("If-None-Match"), etag)) {
        Reply r;
        r.status = 304;
        return r;
      }
    }
    Reply r;
    pb::util::JsonPrintOptions print;
    auto printed = pb::util::MessageToJsonString(*response, &r.body, print);
    if (!printed.ok()) {
      return GatewayError(grpc::StatusCode::INTERNAL,
                          absl::StrCat("printing the answer: ", std::string(printed.message())));
    }
    return r;
  }

  HttpOptions options_;
  std::shared_ptr<grpc::ChannelInterface> channel_;
  std::vector<CompiledRoute> routes_;
};

// ---- the panel's static files ----------------------------------------------------

std::string ContentSecurityPolicy(const HttpOptions& options) {
  std::vector<std::string> ancestors = {"'self'"};
  for (const std::string& o : options.cors_allowed_origins) ancestors.push_back(o);
  return absl::StrCat(
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
      "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors ",
      absl::StrJoin(ancestors, " "));
}

void ServeAsset(const PanelAsset& a, const std::string& csp, const httplib::Request& req,
                httplib::Response* res) {
  const std::string etag = absl::StrCat("\"", a.sha256_hex.substr(0, 32), "\"");
  res->set_header("ETag", etag);
  res->set_header("Cache-Control", "no-cache");
  res->set_header("X-Content-Type-Options", "nosniff");
  res->set_header("Referrer-Policy", "no-referrer");
  res->set_header("Content-Security-Policy", csp);
  if (EtagMatches(req.get_header_value("If-None-Match"), etag)) {
    res->status = 304;
    return;
  }
  res->set_content(a.data, a.size, a.content_type);
}

}  // namespace

int HttpStatusForCode(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::CANCELLED:
      return 499;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::DATA_LOSS:
    default:
      return 500;
  }
}

absl::StatusOr<std::unique_ptr<HttpGateway>> HttpGateway::Start(
    const HttpOptions& options, std::shared_ptr<grpc::ChannelInterface> channel) {
  // Every route must name a real method whose request type is the one it builds.
  for (const Route& r : ApiRoutes()) {
    const pb::MethodDescriptor* m =
        pb::DescriptorPool::generated_pool()->FindMethodByName(r.method);
    if (m == nullptr || m->input_type() != r.rpc.new_request()->GetDescriptor()) {
      return absl::InvalidArgumentError(absl::StrCat("http route ", r.pattern, ": method ",
                                                     r.method,
                                                     " is unknown or takes another request type"));
    }
  }
  // Keep the rpc detail types linked in, so error details print as JSON.
  (void)google::rpc::ErrorInfo::descriptor();
  if (!options.hubspot_client_secret.empty() && options.public_url.empty()) {
    return absl::InvalidArgumentError(
        "http.public_url: required with http.hubspot_client_secret (HubSpot signs the "
        "public URL it calls)");
  }
  const size_t colon = options.listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(options.listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("http.listen: '", options.listen, "' is not host:port"));
  }
  const std::string host = options.listen.substr(0, colon);

  std::unique_ptr<HttpGateway> g(new HttpGateway());
  g->options_ = options;
  g->channel_ = std::move(channel);
  if (options.tls.enabled()) {
    absl::StatusOr<std::unique_ptr<ReloadingTlsContext>> tls =
        ReloadingTlsContext::Create(options.tls, "http.tls");
    if (!tls.ok()) return tls.status();
    g->tls_ = *std::move(tls);
    ReloadingTlsContext* t = g->tls_.get();
    g->server_ = std::make_unique<httplib::SSLServer>(
        [t](SSL_CTX& ctx) { return t->SetUpServerContext(ctx); });
    if (!g->server_->is_valid()) {
      return absl::FailedPreconditionError("http.tls: the TLS context could not be set up");
    }
  } else {
    g->server_ = std::make_unique<httplib::Server>();
  }
  httplib::Server& server = *g->server_;
  const int threads = options.threads > 0 ? options.threads : 32;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  // cpp-httplib's default also sets SO_REUSEPORT, which lets a second sidecar bind the
  // same port and silently share its traffic; a port in use must be an error.
  // The listening socket, kept to raise its backlog after bind (below).
  auto listen_fd = std::make_shared<socket_t>(INVALID_SOCKET);
  server.set_socket_options([listen_fd](socket_t sock) {
    *listen_fd = sock;
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
  });
  // The head and the body go out in two writes: with Nagle on, the body waits for the
  // client's delayed ACK (40 ms per keep-alive request on Linux).
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(1000);
  server.set_keep_alive_timeout(2);  // idle connections give their thread back soon

  auto handler = std::make_shared<Handler>(g->options_, g->channel_);
  const std::string csp = ContentSecurityPolicy(options);
  auto api = [handler](const httplib::Request& req, httplib::Response& res) {
    handler->Api(req, &res);
  };
  server.Get(R"(/v1/.*)", api);
  server.Post(R"(/v1/.*)", api);
  server.Options(R"(/v1/.*)", [handler](const httplib::Request& req, httplib::Response& res) {
    handler->Preflight(req, &res);
  });
  auto asset = [csp, handler](const httplib::Request& req, httplib::Response& res) {
    // CORS on the files too: a CRM page (a Dynamics web resource) loads panel.js as a
    // module script from here, and module scripts are fetched in CORS mode.
    handler->AddCors(req, &res);
    const PanelAsset* a = FindPanelAsset(req.path);
    if (a == nullptr) {
      Handler::Write(GatewayError(grpc::StatusCode::NOT_FOUND,
                                  absl::StrCat("no file ", req.path, " (the panel is at /ui/)")),
                     &res);
      return;
    }
    ServeAsset(*a, csp, req, &res);
  };
  server.Get(R"(/ui/.*)", asset);
  server.Get("/panel", asset);
  server.Get("/ui",
             [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/ui/"); });
  // Errors cpp-httplib answers itself (413 over max_body_bytes, 404 off the routes,
  // 400 for malformed requests) get the same google.rpc.Status shape.
  server.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty() || res.status == 304)
          return httplib::Server::HandlerResponse::Unhandled;
        grpc::StatusCode code = grpc::StatusCode::INVALID_ARGUMENT;
        std::string message = absl::StrCat("bad request (HTTP ", res.status, ")");
        if (res.status == 413) {
          code = grpc::StatusCode::RESOURCE_EXHAUSTED;
          message = "request body larger than http.max_body_bytes";
        } else if (res.status == 404) {
          code = grpc::StatusCode::NOT_FOUND;
          message = absl::StrCat("no route for ", req.method, " ", req.path);
        } else if (res.status == 405) {
          code = grpc::StatusCode::UNIMPLEMENTED;
          message = absl::StrCat(req.method, ": method not allowed");
        } else if (res.status >= 500) {
          code = grpc::StatusCode::INTERNAL;
          message = "internal error";
        }
        Reply r = StatusReply(res.status, code, message);
        res.set_content(r.body, "application/json");
        return httplib::Server::HandlerResponse::Handled;
      }));

  if (port == 0) {
    port = server.bind_to_any_port(host);
    if (port <= 0) port = 0;
  } else if (!server.bind_to_port(host, port)) {
    port = 0;
  }
  if (port == 0) {
    return absl::UnavailableError(absl::StrCat("http.listen: cannot listen on ", options.listen,
                                               " (address in use, or not a valid host:port?)"));
  }
  // Debian's libcpp-httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG,
  // compiled in): more clients connecting at once than that overflow the accept queue,
  // and the kernel drops their handshakes, which stalls each for a SYN retransmit
  // (1 s, 3 s, ...). Listening again on the bound socket only raises the backlog.
  if (*listen_fd != INVALID_SOCKET) (void)::listen(*listen_fd, SOMAXCONN);
  g->port_ = port;
  g->address_ = absl::StrCat(host, ":", port);
  g->thread_ = std::thread([&server] { server.listen_after_bind(); });
  // stop() is a no-op until the loop runs, so Shutdown right after Start would hang.
  for (int i = 0; i < 5000 && !server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return g;
}

HttpGateway::~HttpGateway() { Shutdown(); }

void HttpGateway::Shutdown() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace dealcoach::http
