#include "sidecar/engine/yaml_util.h"

#include <algorithm>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sidecar/common/edit_distance.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/parser.h"

namespace dealcoach::engine::internal {

Position PositionOfMark(const YAML::Mark& mark) {
  if (mark.is_null()) return Position{1, 1};
  return Position{mark.line + 1, mark.column + 1};
}

void Diagnostics::Error(const YAML::Mark& mark, std::string message) {
  ErrorAt(PositionOfMark(mark), std::move(message));
}

void Diagnostics::ErrorAt(Position pos, std::string message) {
  v1::Diagnostic d;
  d.set_severity(v1::DIAGNOSTIC_SEVERITY_ERROR);
  d.set_file(file_);
  d.set_line(pos.line);
  d.set_column(pos.column);
  d.set_message(std::move(message));
  d.set_snippet(source_->Snippet(pos));
  diagnostics_.push_back(std::move(d));
  ++errors_;
}

void Diagnostics::WarningAt(Position pos, std::string message) {
  v1::Diagnostic d;
  d.set_severity(v1::DIAGNOSTIC_SEVERITY_WARNING);
  d.set_file(file_);
  d.set_line(pos.line);
  d.set_column(pos.column);
  d.set_message(std::move(message));
  d.set_snippet(source_->Snippet(pos));
  diagnostics_.push_back(std::move(d));
}

std::vector<v1::Diagnostic> Diagnostics::Sorted() const {
  std::vector<v1::Diagnostic> out = diagnostics_;
  std::stable_sort(out.begin(), out.end(), [](const v1::Diagnostic& a, const v1::Diagnostic& b) {
    return std::make_pair(a.line(), a.column()) < std::make_pair(b.line(), b.column());
  });
  return out;
}

std::string DidYouMean(absl::string_view word, const std::vector<std::string>& candidates) {
  const std::string* best = ClosestName(word, candidates, std::max<size_t>(2, word.size() / 3));
  if (best == nullptr) return "";
  return absl::StrCat("; did you mean '", *best, "'?");
}

namespace {

std::string TooManyNodes(const YamlLimits& limits) {
  return absl::StrCat("the document expands to more than ", limits.max_nodes,
                      " nodes once its aliases (*name) are expanded; aliases may repeat a "
                      "node, not multiply a document (\"billion laughs\")");
}

// Thrown out of the parser by BoundsHandler when a limit is passed.
struct BoundsExceeded {
  YamlBoundsError error;
};

// Counts nesting depth and alias-expanded node counts from parser events.
class BoundsHandler : public YAML::EventHandler {
 public:
  explicit BoundsHandler(const YamlLimits& limits) : limits_(limits) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { Leaf(mark, anchor, 1); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchor_nodes_.find(anchor);
    Leaf(mark, 0, it == anchor_nodes_.end() ? 1 : it->second);
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string&) override {
    Leaf(mark, anchor, 1);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(mark, anchor);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(mark, anchor);
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Frame {
    YAML::anchor_t anchor;
    int64_t nodes;
  };

  void Add(const YAML::Mark& mark, int64_t nodes) {
    // Saturating: a chain of aliases can exceed int64 long before the budget check.
    total_ = std::min<int64_t>(total_ + nodes, limits_.max_nodes + 1);
    if (!stack_.empty()) {
      stack_.back().nodes = std::min<int64_t>(stack_.back().nodes + nodes, limits_.max_nodes + 1);
    }
    if (total_ > limits_.max_nodes) {
      throw BoundsExceeded{{PositionOfMark(mark), TooManyNodes(limits_)}};
    }
  }
  void Leaf(const YAML::Mark& mark, YAML::anchor_t anchor, int64_t nodes) {
    Add(mark, nodes);
    if (anchor != 0) anchor_nodes_[anchor] = nodes;
  }
  void Open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (static_cast<int>(stack_.size()) >= limits_.max_depth) {
      throw BoundsExceeded{
          {PositionOfMark(mark), absl::StrCat("nesting deeper than ", limits_.max_depth,
                                              " levels of mappings and sequences")}};
    }
    marks_.push_back(mark);
    stack_.push_back(Frame{anchor, 1});
  }
  void Close() {
    Frame f = stack_.back();
    stack_.pop_back();
    YAML::Mark mark = marks_.back();
    marks_.pop_back();
    Add(mark, f.nodes);
    if (f.anchor != 0) anchor_nodes_[f.anchor] = f.nodes;
  }

  const YamlLimits& limits_;
  std::vector<Frame> stack_;
  std::vector<YAML::Mark> marks_;
  std::unordered_map<YAML::anchor_t, int64_t> anchor_nodes_;
  int64_t total_ = 0;
};

// Flow nesting ('[' and '{') from the text alone, before yaml-cpp sees it: yaml-cpp's
// scanner queues a token per '[' of "[[[[..." before the parser consumes any (about
// 250 bytes each: 1 MB of '[' costs 250 MB), so depth must be known first. Skips
// comments and quoted scalars (a quote opens one only where a scalar can start); may
// over-count brackets inside plain scalars, never under-counts real ones outside
// block scalars. The event pass below then measures block and flow nesting exactly.
// Also counts the ',' of flow collections: the scanner queues a whole flow collection's
// tokens too, so "[a, a, a, ...]" beyond the node budget is refused here as well.
std::optional<YamlBoundsError> PrescanFlow(absl::string_view text, const YamlLimits& limits);

// A safety net under PrescanFlow that reads no syntax at all: every '[' '{' ']' '}' and
// ',' counts, wherever it is. A quote that PrescanFlow misreads (say, a lone '"' in a
// block scalar) cannot hide a bracket flood from it. Limits are generous (16x the
// depth, the node budget in commas), so real text does not reach them.
std::optional<YamlBoundsError> RawFlowCount(absl::string_view text, const YamlLimits& limits) {
  const int64_t max_raw_depth = 16 * static_cast<int64_t>(limits.max_depth);
  int64_t depth = 0, commas = 0;
  int line = 1, column = 0;
  for (char c : text) {
    if (c == '\n') {
      ++line;
      column = 0;
      continue;
    }
    ++column;
    if (c == '[' || c == '{') {
      if (++depth > max_raw_depth) {
        return YamlBoundsError{Position{line, column},
                               absl::StrCat("nesting deeper than ", limits.max_depth,
                                            " levels of mappings and sequences (", max_raw_depth,
                                            " unclosed '[' or '{' in the text)")};
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    } else if (c == ',' && ++commas > limits.max_nodes) {
      return YamlBoundsError{
          Position{line, column},
          absl::StrCat("more than ", limits.max_nodes, " ',' in the text; the node limit is ",
                       limits.max_nodes)};
    }
  }
  return std::nullopt;
}

std::optional<YamlBoundsError> PrescanFlow(absl::string_view text, const YamlLimits& limits) {
  enum class State { kPlain, kDouble, kSingle, kComment };
  State state = State::kPlain;
  const int max_depth = limits.max_depth;
  int64_t flow_items = 0;
  int depth = 0;
  int line = 1, column = 0;
  char prev = '\n';  // last significant character outside quotes and comments
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      column = 0;
    } else {
      ++column;
    }
    switch (state) {
      case State::kComment:
        if (c == '\n') {
          state = State::kPlain;
          prev = '\n';
        }
        continue;
      case State::kDouble:
        if (c == '\\' && i + 1 < text.size() && text[i + 1] != '\n') {
          ++i;
          ++column;
        } else if (c == '"') {
          state = State::kPlain;
          prev = c;
        }
        continue;
      case State::kSingle:
        if (c == '\'') {
          if (i + 1 < text.size() && text[i + 1] == '\'') {
            ++i;
            ++column;
          } else {
            state = State::kPlain;
            prev = c;
          }
        }
        continue;
      case State::kPlain:
        break;
    }
    const bool after_space = i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t' ||
                             text[i - 1] == '\n' || text[i - 1] == '\r';
    switch (c) {
      case '\n':
        prev = '\n';
        break;
      case ' ':
      case '\t':
      case '\r':
        break;
      case '#':
        if (after_space) {
          state = State::kComment;
        } else {
          prev = c;
        }
        break;
      case '"':
      case '\'': {
        const bool starts_scalar = prev == '\n' || prev == '[' || prev == '{' || prev == ',' ||
                                   ((prev == ':' || prev == '-' || prev == '?') && after_space);
        if (starts_scalar) {
          state = c == '"' ? State::kDouble : State::kSingle;
        } else {
          prev = c;
        }
        break;
      }
      case '[':
      case '{':
        if (++depth > max_depth) {
          return YamlBoundsError{
              Position{line, column},
              absl::StrCat("nesting deeper than ", max_depth, " levels of mappings and sequences")};
        }
        prev = c;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        prev = c;
        break;
      case ',':
        if (depth > 0 && ++flow_items > limits.max_nodes) {
          return YamlBoundsError{Position{line, column}, TooManyNodes(limits)};
        }
        prev = c;
        break;
      default:
        prev = c;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<YamlBoundsError> CheckYamlBounds(absl::string_view text, const YamlLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return YamlBoundsError{Position{1, 1}, absl::StrCat("the document is ", text.size(),
                                                        " bytes; the limit is ", limits.max_bytes)};
  }
  if (std::optional<YamlBoundsError> e = PrescanFlow(text, limits)) return e;
  if (std::optional<YamlBoundsError> e = RawFlowCount(text, limits)) return e;
  std::istringstream in{std::string(text)};
  BoundsHandler handler(limits);
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(handler)) {
    }
  } catch (const BoundsExceeded& e) {
    return e.error;
  } catch (const YAML::Exception&) {
    return std::nullopt;  // a syntax error: YAML::Load reports it with its position
  }
  return std::nullopt;
}

const char* NodeKind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "mapping";
    case YAML::NodeType::Sequence:
      return "sequence";
    case YAML::NodeType::Scalar:
      return "scalar";
    default:
      return "null";
  }
}

bool ExpectMap(const YAML::Node& node, absl::string_view what, Diagnostics* diag) {
  if (node.IsMap()) return true;
  diag->Error(node.Mark(), absl::StrCat(what, ": expected a mapping, got a ", NodeKind(node)));
  return false;
}

bool ExpectSequence(const YAML::Node& node, absl::string_view what, Diagnostics* diag) {
  if (node.IsSequence()) return true;
  diag->Error(node.Mark(),
              absl::StrCat(what, ": expected a sequence (a list), got a ", NodeKind(node)));
  return false;
}

void CheckKeys(const YAML::Node& map, absl::string_view what,
               const std::vector<std::string>& allowed, const std::vector<std::string>& required,
               Diagnostics* diag) {
  absl::flat_hash_set<std::string> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    // A copy: `it->` returns a proxy that dies with the full expression, so a reference
    // to its `first` dangles (ASan stack-use-after-scope, found by playbook_fuzzer).
    const YAML::Node key = it->first;
    if (!key.IsScalar()) {
      diag->Error(key.Mark(), absl::StrCat(what, ": keys must be plain names"));
      continue;
    }
    const std::string& name = key.Scalar();
    if (!seen.insert(name).second) {
      diag->Error(key.Mark(), absl::StrCat(what, ": duplicate key '", name, "'"));
      continue;
    }
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string hint = DidYouMean(name, allowed);
      if (hint.empty()) hint = absl::StrCat("; expected one of: ", absl::StrJoin(allowed, ", "));
      diag->Error(key.Mark(), absl::StrCat(what, ": unknown key '", name, "'", hint));
    }
  }
  for (const std::string& r : required) {
    if (!seen.contains(r)) {
      diag->Error(map.Mark(), absl::StrCat(what, ": missing required key '", r, "'"));
    }
  }
}

std::optional<std::string> GetString(const YAML::Node& map, const char* key, absl::string_view what,
                                     Diagnostics* diag) {
  YAML::Node n = map[key];
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  if (!n.IsScalar()) {
    diag->Error(n.Mark(),
                absl::StrCat(what, ": '", key, "' must be a string, got a ", NodeKind(n)));
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<int64_t> GetInt(const YAML::Node& map, const char* key, absl::string_view what,
                              Diagnostics* diag) {
  YAML::Node n = map[key];
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  int64_t v = 0;
  if (!n.IsScalar() || n.Tag() == "!" || !absl::SimpleAtoi(n.Scalar(), &v)) {
    diag->Error(n.Mark(), absl::StrCat(what, ": '", key, "' must be an integer, got '",
                                       n.IsScalar() ? n.Scalar() : NodeKind(n), "'"));
    return std::nullopt;
  }
  return v;
}

std::optional<bool> GetBool(const YAML::Node& map, const char* key, absl::string_view what,
                            Diagnostics* diag) {
  YAML::Node n = map[key];
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  if (n.IsScalar() && n.Tag() != "!") {
    if (n.Scalar() == "true") return true;
    if (n.Scalar() == "false") return false;
  }
  diag->Error(n.Mark(), absl::StrCat(what, ": '", key, "' must be true or false, got '",
                                     n.IsScalar() ? n.Scalar() : NodeKind(n), "'"));
  return std::nullopt;
}

std::vector<std::string> GetStringList(const YAML::Node& map, const char* key,
                                       absl::string_view what, Diagnostics* diag) {
  std::vector<std::string> out;
  YAML::Node n = map[key];
  if (!n.IsDefined() || n.IsNull()) return out;
  if (!ExpectSequence(n, absl::StrCat(what, ": '", key, "'"), diag)) return out;
  for (const YAML::Node& e : n) {
    if (!e.IsScalar()) {
      diag->Error(e.Mark(),
                  absl::StrCat(what, ": '", key, "' entries must be strings, got a ", NodeKind(e)));
      continue;
    }
    out.push_back(e.Scalar());
  }
  return out;
}

nlohmann::json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json obj = nlohmann::json::object();
      for (auto it = node.begin(); it != node.end(); ++it) {
        obj[it->first.Scalar()] = YamlToJson(it->second);
      }
      return obj;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json arr = nlohmann::json::array();
      for (const YAML::Node& e : node) arr.push_back(YamlToJson(e));
      return arr;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "!") return s;  // quoted: always a string
      if (s == "true") return true;
      if (s == "false") return false;
      if (s == "null" || s == "~") return nullptr;
      int64_t i = 0;
      if (absl::SimpleAtoi(s, &i)) return i;
      double d = 0;
      if (s.find_first_of("0123456789") != std::string::npos &&
          s.find_first_not_of("0123456789+-.eE") == std::string::npos && absl::SimpleAtod(s, &d)) {
        return d;
      }
      return s;
    }
    default:
      return nullptr;
  }
}

}  // namespace dealcoach::engine::internal
