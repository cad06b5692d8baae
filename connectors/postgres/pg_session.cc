#include "connectors/postgres/pg_session.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "libpq-fe.h"

namespace dealcoach::connectors::postgres {
namespace {

// Type OIDs from pg_type.h (stable across server versions).
constexpr Oid kBoolOid = 16;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kOidOid = 26;
constexpr Oid kJsonOid = 114;
constexpr Oid kFloat4Oid = 700;
constexpr Oid kFloat8Oid = 701;
constexpr Oid kTextArrayOid = 1009;
constexpr Oid kVarcharArrayOid = 1015;
constexpr Oid kTimestampOid = 1114;
constexpr Oid kTimestampTzOid = 1184;
constexpr Oid kNumericOid = 1700;
constexpr Oid kJsonbOid = 3802;

// Quotes a conninfo value when it needs it (spaces, quotes, empty).
std::string QuoteConninfoValue(absl::string_view value) {
  bool plain = !value.empty();
  for (char c : value) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '\'' || c == '\\') {
      plain = false;
    }
  }
  if (plain) return std::string(value);
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') quoted.push_back('\\');
    quoted.push_back(c);
  }
  quoted.push_back('\'');
  return quoted;
}

// "2026-11-20 10:00:00.5+00" (TimeZone=UTC) → "2026-11-20T10:00:00.5Z".
std::string TimestampToRfc3339(absl::string_view text, bool has_zone) {
  std::string out(text);
  if (out.size() < 19 || out[10] != ' ') return out;  // infinity, BC dates: keep as-is.
  out[10] = 'T';
  if (!has_zone) return out + "Z";
  if (absl::EndsWith(out, "+00")) return out.substr(0, out.size() - 3) + "Z";
  // Other zones only when a session overrides TimeZone: "+05" → "+05:00".
  size_t sign = out.find_last_of("+-");
  if (sign != std::string::npos && sign > 18 && out.size() - sign == 3) out += ":00";
  return out;
}

// Parses a one-dimensional text[] literal ({a,"b c",NULL}) into a JSON array.
nlohmann::json ParseTextArray(absl::string_view text) {
  nlohmann::json out = nlohmann::json::array();
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') return std::string(text);
  absl::string_view body = text.substr(1, text.size() - 2);
  size_t i = 0;
  while (i < body.size()) {
    std::string item;
    bool quoted = false;
    if (body[i] == '"') {
      quoted = true;
      ++i;
      while (i < body.size() && body[i] != '"') {
        if (body[i] == '\\' && i + 1 < body.size()) ++i;
        item.push_back(body[i++]);
      }
      ++i;  // Closing quote.
    } else {
      while (i < body.size() && body[i] != ',') item.push_back(body[i++]);
    }
    if (!quoted && item == "NULL") {
      out.push_back(nullptr);
    } else {
      out.push_back(item);
    }
    if (i < body.size() && body[i] == ',') ++i;
  }
  return out;
}

nlohmann::json CellToJson(const PGresult* res, int row, int col) {
  if (PQgetisnull(res, row, col)) return nullptr;
  const char* raw = PQgetvalue(res, row, col);
  absl::string_view text(raw, PQgetlength(res, row, col));
  switch (PQftype(res, col)) {
    case kBoolOid:
      return text == "t";
    case kInt2Oid:
    case kInt4Oid:
    case kInt8Oid:
    case kOidOid: {
      int64_t v = 0;
      if (absl::SimpleAtoi(text, &v)) return v;
      return std::string(text);
    }
    case kFloat4Oid:
    case kFloat8Oid:
    case kNumericOid: {
      double v = 0;
      if (absl::SimpleAtod(text, &v) && text != "NaN" && !absl::StrContains(text, "nfinity")) {
        return v;
      }
      return std::string(text);
    }
    case kJsonOid:
    case kJsonbOid: {
      nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded()) return std::string(text);
      return parsed;
    }
    case kTimestampTzOid:
      return TimestampToRfc3339(text, /*has_zone=*/true);
    case kTimestampOid:
      return TimestampToRfc3339(text, /*has_zone=*/false);
    case kTextArrayOid:
    case kVarcharArrayOid:
      return ParseTextArray(text);
    default:
      return std::string(text);
  }
}

PgRows ResultToRows(const PGresult* res) {
  PgRows rows;
  const int nrows = PQntuples(res);
  const int ncols = PQnfields(res);
  rows.reserve(nrows);
  for (int r = 0; r < nrows; ++r) {
    nlohmann::json row = nlohmann::json::object();
    for (int c = 0; c < ncols; ++c) row[PQfname(res, c)] = CellToJson(res, r, c);
    rows.push_back(std::move(row));
  }
  return rows;
}

// SQLSTATE → canonical code. Connection-class errors are handled by the caller.
absl::StatusCode CodeForSqlState(absl::string_view state) {
  if (state == "57014") return absl::StatusCode::kDeadlineExceeded;  // query_canceled
  if (absl::StartsWith(state, "08") || absl::StartsWith(state, "57P")) {
    return absl::StatusCode::kUnavailable;  // connection exception, shutdown
  }
  if (state == "42P01" || state == "42703" || state == "42883" || state == "3F000") {
    return absl::StatusCode::kFailedPrecondition;  // undefined table/column/function/schema
  }
  if (state == "28P01" || state == "28000") return absl::StatusCode::kUnauthenticated;
  if (state == "42501") return absl::StatusCode::kPermissionDenied;
  if (absl::StartsWith(state, "53")) return absl::StatusCode::kResourceExhausted;
  if (absl::StartsWith(state, "40")) return absl::StatusCode::kAborted;  // serialization
  if (absl::StartsWith(state, "42") || absl::StartsWith(state, "22")) {
    return absl::StatusCode::kInvalidArgument;  // syntax error, bad data
  }
  return absl::StatusCode::kInternal;
}

std::string Trimmed(const char* text) {
  return text == nullptr ? std::string() : std::string(absl::StripAsciiWhitespace(text));
}

}  // namespace

std::string RedactConninfo(absl::string_view conninfo) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(std::string(conninfo).c_str(), &err);
  if (options == nullptr) {
    PQfreemem(err);
    return "<unparseable connection string>";
  }
  std::vector<std::string> parts;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const bool secret = absl::string_view(o->keyword) == "password";
    parts.push_back(
        absl::StrCat(o->keyword, "=", secret ? "<redacted>" : QuoteConninfoValue(o->val)));
  }
  PQconninfoFree(options);
  return absl::StrJoin(parts, " ");
}

PgSession::PgSession(std::string conninfo, const PgSessionOptions& options)
    : conninfo_(std::move(conninfo)), options_(options) {
  described_ = RedactConninfo(conninfo_);
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo_.c_str(), &err);
  if (parsed != nullptr) {
    for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
      if (o->val != nullptr && absl::string_view(o->keyword) == "password") password_ = o->val;
    }
    PQconninfoFree(parsed);
  }
  PQfreemem(err);
}

PgSession::~PgSession() {
  absl::MutexLock lock(&mu_);
  Drop();
}

std::string PgSession::Describe() const { return described_; }

int PgSession::connects() const {
  absl::MutexLock lock(&mu_);
  return connects_;
}

ConnectorHealth PgSession::Health() const {
  absl::MutexLock lock(&mu_);
  ConnectorHealth health;
  health.healthy = last_ok_;
  health.detail = last_ok_ ? "ok" : last_error_;
  health.last_success = last_success_;
  return health;
}

void PgSession::Drop() {
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
}

std::string PgSession::Clean(absl::string_view text) const {
  std::string out(absl::StripAsciiWhitespace(text));
  absl::StrReplaceAll({{"\n", "; "}}, &out);
  if (!password_.empty()) absl::StrReplaceAll({{password_, "<redacted>"}}, &out);
  if (!conninfo_.empty()) absl::StrReplaceAll({{conninfo_, described_}}, &out);
  return out;
}

absl::Status PgSession::EnsureConnected(absl::string_view name, absl::Time deadline) {
  if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) return absl::OkStatus();
  absl::BitGen gen;
  std::string last_error;
  const int attempts = std::max(1, options_.reconnect_attempts);
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    if (attempt > 1) {
      absl::Duration cap = std::min(options_.reconnect_max_backoff,
                                    options_.reconnect_initial_backoff * (1 << (attempt - 2)));
      absl::Duration delay = cap * absl::Uniform(gen, 0.0, 1.0);
      if (absl::Now() + delay >= deadline) break;
      absl::SleepFor(delay);
    }
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    // libpq counts whole seconds (and treats 1 as 2); the deadline still bounds the query.
    int64_t timeout_s =
        std::max<int64_t>(2, absl::ToInt64Seconds(std::min(options_.connect_timeout, left) +
                                                  absl::Seconds(1) - absl::Nanoseconds(1)));
    if (conn_ == nullptr) {
      // Defaults first: the expanded connection string (dbname) overrides them.
      std::string timeout_text = absl::StrCat(timeout_s);
      const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
      const char* values[] = {timeout_text.c_str(), "dealcoach-sidecar", conninfo_.c_str(),
                              nullptr};
      conn_ = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
    } else {
      PQreset(conn_);
    }
    if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) {
      ++connects_;
      // Server NOTICEs ("relation already exists, skipping") are not errors; drop them
      // instead of letting libpq print them to stderr.
      PQsetNoticeProcessor(
          conn_, [](void*, const char*) {}, nullptr);
      // Session settings, re-applied after every reset.
      std::string setup = "SET TimeZone = 'UTC'";
      if (options_.statement_timeout > absl::ZeroDuration()) {
        absl::StrAppend(&setup, "; SET statement_timeout = ",
                        absl::ToInt64Milliseconds(options_.statement_timeout));
      }
      bool lost = false;
      auto setup_result =
          RunOnce("session setup", setup, {}, /*expect_rows=*/false, deadline, &lost);
      if (setup_result.ok()) return absl::OkStatus();
      last_error = std::string(setup_result.status().message());
      continue;
    }
    last_error = conn_ == nullptr ? "out of memory" : Clean(PQerrorMessage(conn_));
  }
  Drop();
  return absl::UnavailableError(absl::StrCat("postgres: query '", name, "': cannot connect to ",
                                             described_, ": ", last_error));
}

absl::StatusOr<PgRows> PgSession::RunOnce(absl::string_view name, const std::string& sql,
                                          const std::vector<std::optional<std::string>>& params,
                                          bool expect_rows, absl::Time deadline,
                                          bool* connection_lost) {
  *connection_lost = false;
  const std::string prefix = absl::StrCat("postgres: query '", name, "': ");
  auto lost = [&](absl::string_view detail) {
    *connection_lost = true;
    return absl::UnavailableError(absl::StrCat(prefix, "connection lost: ", Clean(detail)));
  };

  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  const int sent =
      params.empty() && !expect_rows
          ? PQsendQuery(conn_, sql.c_str())
          : PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                              values.data(), nullptr, nullptr, /*resultFormat=*/0);
  if (!sent) return lost(PQerrorMessage(conn_));

  const int fd = PQsocket(conn_);
  PGresult* rows_result = nullptr;
  std::optional<absl::Status> error;
  bool finished = false;
  while (!finished) {
    while (!PQisBusy(conn_)) {
      PGresult* res = PQgetResult(conn_);
      if (res == nullptr) {
        finished = true;
        break;
      }
      const ExecStatusType status = PQresultStatus(res);
      if (status == PGRES_TUPLES_OK && !error) {
        if (rows_result != nullptr) PQclear(rows_result);
        rows_result = res;
        continue;
      }
      if ((status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE) && !error) {
        const std::string state = Trimmed(PQresultErrorField(res, PG_DIAG_SQLSTATE));
        std::string message = Trimmed(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
        if (message.empty()) message = Trimmed(PQresultErrorMessage(res));
        if (PQstatus(conn_) == CONNECTION_BAD || absl::StartsWith(state, "08") ||
            absl::StartsWith(state, "57P")) {
          error = lost(message);
        } else {
          error = absl::Status(
              CodeForSqlState(state),
              absl::StrCat(prefix, Clean(message),
                           state.empty() ? "" : absl::StrCat(" (SQLSTATE ", state, ")")));
        }
      }
      PQclear(res);
    }
    if (finished) break;
    if (PQstatus(conn_) == CONNECTION_BAD) {
      if (!error) error = lost(PQerrorMessage(conn_));
      break;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      // Cancel server-side so the statement stops using resources, then drop the
      // connection rather than wait for the server to acknowledge.
      if (PGcancel* cancel = PQgetCancel(conn_)) {
        char buf[256];
        PQcancel(cancel, buf, sizeof buf);
        PQfreeCancel(cancel);
      }
      if (rows_result != nullptr) PQclear(rows_result);
      Drop();
      return absl::DeadlineExceededError(
          absl::StrCat(prefix, "deadline exceeded; query cancelled"));
    }
    pollfd pfd{fd, POLLIN, 0};
    const int wait_ms =
        static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1000));
    const int ready = poll(&pfd, 1, wait_ms);
    if (ready < 0 && errno != EINTR) {
      if (!error) error = lost("poll failed");
      break;
    }
    if (ready > 0 && !PQconsumeInput(conn_)) {
      if (!error) error = lost(PQerrorMessage(conn_));
      break;
    }
  }
  if (error) {
    if (rows_result != nullptr) PQclear(rows_result);
    return *error;
  }
  if (!expect_rows) {
    if (rows_result != nullptr) PQclear(rows_result);
    return PgRows{};
  }
  if (rows_result == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(prefix, "the statement returned no rows ", "(is it a SELECT?)"));
  }
  PgRows rows = ResultToRows(rows_result);
  PQclear(rows_result);
  return rows;
}

absl::StatusOr<PgRows> PgSession::Run(absl::string_view name, const std::string& sql,
                                      const std::vector<std::optional<std::string>>& params,
                                      bool expect_rows, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  absl::Status status;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int connects_before = connects_;
    status = EnsureConnected(name, deadline);
    if (!status.ok()) break;
    bool lost = false;
    absl::StatusOr<PgRows> rows = RunOnce(name, sql, params, expect_rows, deadline, &lost);
    if (rows.ok()) {
      last_ok_ = true;
      last_success_ = absl::Now();
      return rows;
    }
    status = rows.status();
    // Retry once when a connection that was already open had died while idle (e.g.
    // the server restarted between calls); a fresh connection failing is final.
    if (!lost || connects_ != connects_before) break;
  }
  last_ok_ = false;
  last_error_ = std::string(status.message());
  return status;
}

absl::StatusOr<PgRows> PgSession::Query(absl::string_view name, const std::string& sql,
                                        const std::vector<std::optional<std::string>>& params,
                                        absl::Time deadline) {
  return Run(name, sql, params, /*expect_rows=*/true, deadline);
}

absl::Status PgSession::QueryInBatches(absl::string_view name, const std::string& sql,
                                       const std::vector<std::optional<std::string>>& params,
                                       int batch_rows, absl::Time deadline,
                                       const std::function<absl::Status(PgRows&)>& on_batch) {
  absl::MutexLock lock(&mu_);
  absl::Status status = EnsureConnected(name, deadline);
  bool lost = false;
  bool in_transaction = false;
  if (status.ok()) {
    status = RunOnce(name, "BEGIN READ ONLY", {}, /*expect_rows=*/false, deadline, &lost).status();
    in_transaction = status.ok();
  }
  if (status.ok()) {
    status = RunOnce(name, absl::StrCat("DECLARE dealcoach_batches NO SCROLL CURSOR FOR ", sql),
                     params, /*expect_rows=*/false, deadline, &lost)
                 .status();
  }
  const std::string fetch =
      absl::StrCat("FETCH FORWARD ", std::max(1, batch_rows), " FROM dealcoach_batches");
  while (status.ok()) {
    absl::StatusOr<PgRows> rows = RunOnce(name, fetch, {}, /*expect_rows=*/true, deadline, &lost);
    if (!rows.ok()) {
      status = rows.status();
      break;
    }
    ++batches_fetched_;
    const bool last = static_cast<int>(rows->size()) < std::max(1, batch_rows);
    if (!rows->empty()) status = on_batch(*rows);
    if (last) break;
  }
  if (in_transaction && !lost && conn_ != nullptr) {
    bool ignored = false;
    absl::Status end = RunOnce(name, status.ok() ? "COMMIT" : "ROLLBACK", {},
                               /*expect_rows=*/false, deadline, &ignored)
                           .status();
    if (status.ok()) status = end;
  }
  last_ok_ = status.ok();
  if (status.ok()) {
    last_success_ = absl::Now();
  } else {
    last_error_ = std::string(status.message());
  }
  return status;
}

int64_t PgSession::batches_fetched() const {
  absl::MutexLock lock(&mu_);
  return batches_fetched_;
}

absl::Status PgSession::Exec(absl::string_view name, const std::string& sql, absl::Time deadline) {
  return Run(name, sql, {}, /*expect_rows=*/false, deadline).status();
}

}  // namespace dealcoach::connectors::postgres
