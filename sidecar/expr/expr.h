// The playbook expression language: a self-contained implementation of the subset of
// CEL (Common Expression Language) that playbooks need.
//
// Shape follows cel-cpp: Compile() = parse + type-check + plan, once, at playbook load;
// Program::Evaluate() is const, does no I/O, takes no locks and may be called from any
// number of threads at once. Data problems never surface as absl::Status: a field the
// CRM did not send evaluates to an Unknown value, a division by zero to an Error value.
//
// The library knows no schema of its own: an embedder declares its root message type
// by protobuf Descriptor (schema.h; the sidecar's opportunity schema is in
// sidecar/oppschema).
//
// Example:
//   expr::Environment env = oppschema::OpportunityEnvironment();  // ForSchema(...)
//   env.DeclareCustomField("decision_to_change", expr::FieldType::kBool);
//   expr::CompileResult r = expr::Compile("opp.fields.decision_to_change == true", env);
//   if (!r.ok()) { ... r.issues ... }
//   expr::Activation act;
//   act.SetMessage("opp", &opportunity);
//   act.SetTimestamp("now", absl::Now());
//   expr::Condition c = expr::EvaluateCondition(*r.program, act);
//
// CONTRACT NOTE: the engine (sidecar/engine) is written against the declarations in this
// file. They may be extended, not changed.
#ifndef DEALCOACH_SIDECAR_EXPR_EXPR_H_
#define DEALCOACH_SIDECAR_EXPR_EXPR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "sidecar/expr/value.h"  // class Value (owned by the expr library)

namespace dealcoach::expr {

// Limits that keep one bad expression from stalling the sidecar.
struct Limits {
  // Maximum number of AST nodes in one expression. Default: 4096.
  int max_nodes = 4096;
  // Maximum nesting depth of the AST. Default: 128.
  int max_depth = 128;
  // Maximum total comprehension iterations (all/exists/map/filter...) in one
  // evaluation; past it the result is an Error value. Default: 100000.
  int64_t max_iterations = 100000;
  // Maximum total bytes of strings, lists and maps one evaluation may build (string
  // and list `+`, map/filter results, list and map literals, string conversions;
  // 16 bytes-ish per list element). Past it the result is an Error value
  // "value size limit of N bytes per evaluation exceeded". Bounds the memory an
  // expression that doubles a string in a comprehension can take. Default: 8 MiB.
  int64_t max_value_bytes = int64_t{8} << 20;
};

// A compile-time problem, positioned inside the expression source.
struct Issue {
  // Byte offset into the expression source.
  size_t offset = 0;
  // 1-based line and column inside the expression source.
  int line = 1;
  int column = 1;
  // Message for an admin, e.g. "undefined field 'amout' on acme.Deal; did you mean
  // 'amount'?".
  std::string message;
};

// Type of a declared custom field (`opp.fields.<name>`).
enum class FieldType { kBool, kInt, kDouble, kString, kTimestamp };

// Parses "bool" | "int" | "double" | "string" | "timestamp".
[[nodiscard]] absl::StatusOr<FieldType> ParseFieldType(absl::string_view name);

struct MessageSchema;  // schema.h

// Declarations an expression is type-checked against. Thread-compatible: build it,
// then share it read-only.
class Environment {
 public:
  Environment();
  ~Environment();
  Environment(const Environment&);
  Environment& operator=(const Environment&);

  // The environment of an embedder's schema (schema.h): its root variable of its root
  // message type (read from the protobuf descriptor), its clock variable as a
  // timestamp, and its fast accessors for planning. Registers the schema
  // (RegisterSchema), whose errors it returns; `schema` must outlive the environment.
  [[nodiscard]] static absl::StatusOr<Environment> ForSchema(const MessageSchema& schema);

  // Declares a variable whose type is a protobuf message.
  void DeclareMessageVariable(const std::string& name, const google::protobuf::Descriptor* type);
  // Declares a timestamp variable.
  void DeclareTimestampVariable(const std::string& name);
  // Declares a variable of dynamic type (checked at run time), for `dealcoach expr`.
  void DeclareDynVariable(const std::string& name);
  // Declares `<msg>.<map>.<name>` for any custom-field map (a map<string, T> field
  // whose T is a schema's dynamic value type, e.g. `opp.fields.<name>`) with a static
  // type, so that a misspelt or mistyped custom field is a load error.
  void DeclareCustomField(const std::string& name, FieldType type);
  // EXTENSION: declares a variable by its CEL type ("int", "list(string)",
  // "map(string, dyn)", "timestamp", ...). InvalidArgument for a malformed type.
  [[nodiscard]] absl::Status DeclareVariable(const std::string& name, absl::string_view cel_type);

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

struct CompileOptions {
  Limits limits;
  // EXTENSION: when false, type errors are not reported (everything is checked at run
  // time, as cel-spec's `disable_check` conformance tests require). Default: true.
  bool check_types = true;
  // EXTENSION: also plan the typed fast path (fast_path.h) for bool conditions over a
  // schema environment (Environment::ForSchema) whose schema has fast accessors. It never changes a
  // result; off only to compare the two paths in tests and benchmarks. Default: true.
  bool fast_path = true;
};

class Activation;

// A compiled, immutable expression. Thread-safe for concurrent Evaluate calls.
class Program {
 public:
  virtual ~Program() = default;
  // Evaluates against the activation. Returns an Unknown value when the result depends
  // on data the activation lacks, and an Error value for runtime errors (division by
  // zero, overflow, cost limit, ...). Never throws, never blocks.
  virtual Value Evaluate(const Activation& activation) const = 0;
  // True when the checker proved the result is a bool.
  virtual bool returns_bool() const = 0;
  // The checked result type, in CEL notation ("bool", "int", "list(dyn)", ...).
  virtual std::string result_type() const = 0;
  // Attribute paths the expression reads, in source order, without duplicates:
  // e.g. {"opp.contacts", "opp.fields.decision_to_change", "now"}. Paths stop at
  // comprehension boundaries (`opp.contacts`, not `c.confirmed_pain`).
  virtual const std::vector<std::string>& attributes() const = 0;
  // EXTENSION: every field path the expression selects or tests with has(), including
  // those inside comprehensions, spelt with `[]` for "some element"
  // ("opp.contacts[].confirmed_pain"); sorted, without duplicates.
  virtual const std::vector<std::string>& selected_paths() const = 0;
  // The source text.
  virtual const std::string& source() const = 0;
};

struct CompileResult {
  std::unique_ptr<const Program> program;  // null when there are issues
  std::vector<Issue> issues;
  bool ok() const { return program != nullptr; }
};

// Parses, type-checks and plans `source` against `env`.
CompileResult Compile(absl::string_view source, const Environment& env,
                      const CompileOptions& options = {});

// Per-evaluation inputs. Cheap to build; build one per opportunity and reuse it for
// every program of the playbook. Does not own the messages it points to.
class Activation {
 public:
  Activation();
  ~Activation();
  Activation(const Activation&) = delete;
  Activation& operator=(const Activation&) = delete;

  // Sets a message variable. Under a registered schema's root variable name, a message
  // of the schema's generated root class also feeds the typed fast path.
  void SetMessage(absl::string_view name, const google::protobuf::Message* message);
  void SetTimestamp(absl::string_view name, absl::Time time);
  void SetValue(absl::string_view name, Value value);
  // EXTENSION (cel-cpp's unknown attribute patterns): attribute paths, spelt as
  // Condition::missing spells them ("opp.contacts[].confirmed_pain",
  // "opp.close_date_history"), that the data source does not record at all. Selecting
  // one evaluates to unknown(path), also under has(), so a condition that depends on it
  // is unknown ("not recorded in the CRM") instead of false; `&&`/`||` and the macros
  // absorb it as they absorb any unknown. Replaces the previous set.
  void SetUnknownAttributes(std::vector<std::string> paths);

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Three-valued outcome of a boolean condition.
enum class Truth { kTrue, kFalse, kUnknown, kError };

struct Condition {
  Truth truth = Truth::kError;
  // For kUnknown: attribute paths that were not recorded, e.g.
  // "opp.fields.decision_to_change".
  std::vector<std::string> missing;
  // For kError: the runtime error message (also used when the result is not a bool).
  std::string error;
};

// True when `program` has a typed fast path (see CompileOptions::fast_path).
bool HasFastPath(const Program& program);

// Evaluates a condition and folds the value into a Truth.
Condition EvaluateCondition(const Program& program, const Activation& activation);

// For a command line (`dealcoach expr`): compiles `source` with every top-level key of
// `vars_json` (a JSON object) declared as a dynamic variable, except, when `schema` is
// given, its root variable (parsed as its root type in proto3 JSON form; a custom-field
// map also takes plain JSON values, `{"tier": "gold"}`, and declares each key with the
// type its value has) and its clock variable (an RFC 3339 string). Evaluates it and
// returns the result in CEL literal syntax (doubles as `1000.0`), or InvalidArgument
// naming line:col, the evaluation error, or the bad variable.
[[nodiscard]] absl::StatusOr<std::string> EvaluateForCli(absl::string_view source,
                                                         absl::string_view vars_json,
                                                         const MessageSchema* schema = nullptr);

}  // namespace dealcoach::expr

#endif  // DEALCOACH_SIDECAR_EXPR_EXPR_H_
