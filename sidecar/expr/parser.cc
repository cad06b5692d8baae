// Lexer and recursive-descent parser for the CEL grammar (langdef.md), with the CEL
// macros (has, all, exists, exists_one, map, filter) expanded into AST nodes.
#include <cerrno>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "sidecar/expr/ast.h"

namespace dealcoach::expr {

namespace {

enum class Tok {
  kEof,
  kInt,
  kUint,
  kDouble,
  kString,
  kBytes,
  kIdent,
  kQuotedIdent,
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kLBrace,
  kRBrace,
  kDot,
  kComma,
  kColon,
  kQuestion,
  kOr,
  kAnd,
  kNot,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kIn,
  kPlus,
  kMinus,
  kStar,
  kSlash,
  kPercent,
  kTrue,
  kFalse,
  kNull,
  kError
};

struct Token {
  Tok kind = Tok::kEof;
  size_t offset = 0;
  std::string text;  // identifier / raw literal text; decoded string for kString/kBytes
};

bool IsReserved(absl::string_view s) {
  static const char* const kReserved[] = {
      "as",  "break", "const",   "continue",  "else",   "for", "function", "if",   "import",
      "let", "loop",  "package", "namespace", "return", "var", "void",     "while"};
  for (const char* r : kReserved) {
    if (s == r) return true;
  }
  return false;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  explicit Lexer(absl::string_view src) : src_(src) {}

  // Returns the next token; on a lexical error returns kError with `error_` set.
  Token Next() {
    SkipSpaceAndComments();
    Token t;
    t.offset = pos_;
    if (pos_ >= src_.size()) return t;
    char c = src_[pos_];
    auto two = [&](char next) { return pos_ + 1 < src_.size() && src_[pos_ + 1] == next; };
    auto one = [&](Tok k, size_t n) {
      t.kind = k;
      pos_ += n;
      return t;
    };
    switch (c) {
      case '(':
        return one(Tok::kLParen, 1);
      case ')':
        return one(Tok::kRParen, 1);
      case '[':
        return one(Tok::kLBracket, 1);
      case ']':
        return one(Tok::kRBracket, 1);
      case '{':
        return one(Tok::kLBrace, 1);
      case '}':
        return one(Tok::kRBrace, 1);
      case ',':
        return one(Tok::kComma, 1);
      case ':':
        return one(Tok::kColon, 1);
      case '?':
        return one(Tok::kQuestion, 1);
      case '+':
        return one(Tok::kPlus, 1);
      case '-':
        return one(Tok::kMinus, 1);
      case '*':
        return one(Tok::kStar, 1);
      case '/':
        return one(Tok::kSlash, 1);
      case '%':
        return one(Tok::kPercent, 1);
      case '|':
        if (two('|')) return one(Tok::kOr, 2);
        break;
      case '&':
        if (two('&')) return one(Tok::kAnd, 2);
        break;
      case '!':
        return two('=') ? one(Tok::kNe, 2) : one(Tok::kNot, 1);
      case '=':
        if (two('=')) return one(Tok::kEq, 2);
        break;
      case '<':
        return two('=') ? one(Tok::kLe, 2) : one(Tok::kLt, 1);
      case '>':
        return two('=') ? one(Tok::kGe, 2) : one(Tok::kGt, 1);
      case '.':
        if (pos_ + 1 < src_.size() && std::isdigit(static_cast<unsigned char>(src_[pos_ + 1]))) {
          return Number(t);
        }
        return one(Tok::kDot, 1);
      default:
        break;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) return Number(t);
    if (c == '`') {
      // Quoted field name (`content-type`): letters, digits, '_', '.', '-', '/', ' '.
      size_t end = src_.find('`', pos_ + 1);
      if (end == absl::string_view::npos) return Error(t, "unterminated quoted field name");
      t.kind = Tok::kQuotedIdent;
      t.text = std::string(src_.substr(pos_ + 1, end - pos_ - 1));
      pos_ = end + 1;
      return t;
    }
    if (c == '"' || c == '\'') return String(t, false, false);
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      // String prefixes: r, b, rb, br (any case).
      size_t p = pos_;
      bool raw = false, bytes = false;
      for (int i = 0; i < 2 && p < src_.size(); ++i, ++p) {
        char l = static_cast<char>(std::tolower(static_cast<unsigned char>(src_[p])));
        if (l == 'r' && !raw) {
          raw = true;
        } else if (l == 'b' && !bytes) {
          bytes = true;
        } else {
          break;
        }
      }
      if ((raw || bytes) && p < src_.size() && (src_[p] == '"' || src_[p] == '\'')) {
        pos_ = p;
        return String(t, raw, bytes);
      }
      size_t start = pos_;
      while (pos_ < src_.size() &&
             (std::isalnum(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) {
        ++pos_;
      }
      t.text = std::string(src_.substr(start, pos_ - start));
      if (t.text == "true")
        t.kind = Tok::kTrue;
      else if (t.text == "false")
        t.kind = Tok::kFalse;
      else if (t.text == "null")
        t.kind = Tok::kNull;
      else if (t.text == "in")
        t.kind = Tok::kIn;
      else
        t.kind = Tok::kIdent;
      return t;
    }
    return Error(t, absl::StrCat("unexpected character '", std::string(1, c), "'"));
  }

  const std::string& error() const { return error_; }
  size_t error_offset() const { return error_offset_; }

 private:
  void SkipSpaceAndComments() {
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
        ++pos_;
      } else if (c == '/' && pos_ + 1 < src_.size() && src_[pos_ + 1] == '/') {
        while (pos_ < src_.size() && src_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  Token Error(Token t, std::string message, size_t offset = std::string::npos) {
    t.kind = Tok::kError;
    error_ = std::move(message);
    error_offset_ = offset == std::string::npos ? t.offset : offset;
    return t;
  }

  Token Number(Token t) {
    size_t start = pos_;
    if (src_[pos_] == '0' && pos_ + 1 < src_.size() &&
        (src_[pos_ + 1] == 'x' || src_[pos_ + 1] == 'X')) {
      pos_ += 2;
      size_t digits = pos_;
      while (pos_ < src_.size() && HexDigit(src_[pos_]) >= 0) ++pos_;
      if (digits == pos_) return Error(t, "invalid hex literal");
      t.text = std::string(src_.substr(digits, pos_ - digits));
      t.kind = Tok::kInt;
      if (pos_ < src_.size() && (src_[pos_] == 'u' || src_[pos_] == 'U')) {
        ++pos_;
        t.kind = Tok::kUint;
      }
      t.text = "0x" + t.text;
      return t;
    }
    bool is_double = false;
    while (pos_ < src_.size() && std::isdigit(static_cast<unsigned char>(src_[pos_]))) ++pos_;
    if (pos_ + 1 < src_.size() && src_[pos_] == '.' &&
        std::isdigit(static_cast<unsigned char>(src_[pos_ + 1]))) {
      is_double = true;
      ++pos_;
      while (pos_ < src_.size() && std::isdigit(static_cast<unsigned char>(src_[pos_]))) ++pos_;
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t p = pos_ + 1;
      if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
      if (p < src_.size() && std::isdigit(static_cast<unsigned char>(src_[p]))) {
        is_double = true;
        pos_ = p;
        while (pos_ < src_.size() && std::isdigit(static_cast<unsigned char>(src_[pos_]))) ++pos_;
      }
    }
    t.text = std::string(src_.substr(start, pos_ - start));
    if (is_double) {
      t.kind = Tok::kDouble;
      return t;
    }
    t.kind = Tok::kInt;
    if (pos_ < src_.size() && (src_[pos_] == 'u' || src_[pos_] == 'U')) {
      ++pos_;
      t.kind = Tok::kUint;
    }
    return t;
  }

  Token String(Token t, bool raw, bool bytes) {
    char quote = src_[pos_];
    bool triple = pos_ + 2 < src_.size() && src_[pos_ + 1] == quote && src_[pos_ + 2] == quote;
    pos_ += triple ? 3 : 1;
    std::string out;
    while (true) {
      if (pos_ >= src_.size()) return Error(t, "unterminated string literal");
      char c = src_[pos_];
      if (triple) {
        if (c == quote && pos_ + 2 < src_.size() && src_[pos_ + 1] == quote &&
            src_[pos_ + 2] == quote) {
          pos_ += 3;
          break;
        }
      } else {
        if (c == quote) {
          ++pos_;
          break;
        }
        if (c == '\n' || c == '\r') return Error(t, "unterminated string literal");
      }
      if (c != '\\' || raw) {
        out.push_back(c);
        ++pos_;
        continue;
      }
      // Escape sequence.
      size_t esc = pos_;
      if (pos_ + 1 >= src_.size()) return Error(t, "unterminated string literal");
      char e = src_[pos_ + 1];
      pos_ += 2;
      switch (e) {
        case 'a':
          out.push_back('\a');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'v':
          out.push_back('\v');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '\'':
          out.push_back('\'');
          break;
        case '"':
          out.push_back('"');
          break;
        case '`':
          out.push_back('`');
          break;
        case '?':
          out.push_back('?');
          break;
        case 'x':
        case 'X':
        case 'u':
        case 'U': {
          int n = (e == 'x' || e == 'X') ? 2 : (e == 'u' ? 4 : 8);
          if ((e == 'u' || e == 'U') && bytes) {
            return Error(t, "\\u escapes are not allowed in bytes literals", esc);
          }
          uint32_t cp = 0;
          for (int i = 0; i < n; ++i) {
            if (pos_ >= src_.size() || HexDigit(src_[pos_]) < 0) {
              return Error(t, "invalid escape sequence", esc);
            }
            cp = cp * 16 + static_cast<uint32_t>(HexDigit(src_[pos_++]));
          }
          if (bytes) {
            out.push_back(static_cast<char>(cp));
          } else {
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
              return Error(t, "invalid unicode code point in escape", esc);
            }
            AppendUtf8(cp, &out);
          }
          break;
        }
        case '0':
        case '1':
        case '2':
        case '3': {
          uint32_t v = static_cast<uint32_t>(e - '0');
          for (int i = 0; i < 2; ++i) {
            if (pos_ >= src_.size() || src_[pos_] < '0' || src_[pos_] > '7') {
              return Error(t, "invalid octal escape", esc);
            }
            v = v * 8 + static_cast<uint32_t>(src_[pos_++] - '0');
          }
          if (bytes) {
            out.push_back(static_cast<char>(v));
          } else {
            AppendUtf8(v, &out);
          }
          break;
        }
        default:
          return Error(t, absl::StrCat("invalid escape sequence '\\", std::string(1, e), "'"), esc);
      }
    }
    t.kind = bytes ? Tok::kBytes : Tok::kString;
    t.text = std::move(out);
    return t;
  }

  absl::string_view src_;
  size_t pos_ = 0;
  std::string error_;
  size_t error_offset_ = 0;
};

std::string TokenName(const Token& t) {
  switch (t.kind) {
    case Tok::kEof:
      return "end of expression";
    case Tok::kInt:
    case Tok::kUint:
    case Tok::kDouble:
      return absl::StrCat("number '", t.text, "'");
    case Tok::kString:
      return "string literal";
    case Tok::kBytes:
      return "bytes literal";
    case Tok::kIdent:
      return absl::StrCat("'", t.text, "'");
    case Tok::kQuotedIdent:
      return absl::StrCat("`", t.text, "`");
    case Tok::kLParen:
      return "'('";
    case Tok::kRParen:
      return "')'";
    case Tok::kLBracket:
      return "'['";
    case Tok::kRBracket:
      return "']'";
    case Tok::kLBrace:
      return "'{'";
    case Tok::kRBrace:
      return "'}'";
    case Tok::kDot:
      return "'.'";
    case Tok::kComma:
      return "','";
    case Tok::kColon:
      return "':'";
    case Tok::kQuestion:
      return "'?'";
    case Tok::kOr:
      return "'||'";
    case Tok::kAnd:
      return "'&&'";
    case Tok::kNot:
      return "'!'";
    case Tok::kEq:
      return "'=='";
    case Tok::kNe:
      return "'!='";
    case Tok::kLt:
      return "'<'";
    case Tok::kLe:
      return "'<='";
    case Tok::kGt:
      return "'>'";
    case Tok::kGe:
      return "'>='";
    case Tok::kIn:
      return "'in'";
    case Tok::kPlus:
      return "'+'";
    case Tok::kMinus:
      return "'-'";
    case Tok::kStar:
      return "'*'";
    case Tok::kSlash:
      return "'/'";
    case Tok::kPercent:
      return "'%'";
    case Tok::kTrue:
      return "'true'";
    case Tok::kFalse:
      return "'false'";
    case Tok::kNull:
      return "'null'";
    case Tok::kError:
      return "invalid token";
  }
  return "token";
}

using NodePtr = std::unique_ptr<Node>;

class Parser {
 public:
  Parser(absl::string_view src, const Limits& limits, std::vector<Issue>* issues)
      : lexer_(src), limits_(limits), issues_(issues) {
    Advance();
  }

  NodePtr ParseAll() {
    NodePtr e = Expr();
    if (!e) return nullptr;
    if (tok_.kind != Tok::kEof)
      return Fail(tok_.offset, absl::StrCat("syntax error: unexpected ", TokenName(tok_)));
    return e;
  }

 private:
  void Advance() {
    tok_ = lexer_.Next();
    if (tok_.kind == Tok::kError && !failed_) {
      Fail(lexer_.error_offset(), absl::StrCat("syntax error: ", lexer_.error()));
    }
  }

  NodePtr Fail(size_t offset, std::string message) {
    if (!failed_) {
      failed_ = true;
      Issue issue;
      issue.offset = offset;
      issue.message = std::move(message);
      issues_->push_back(std::move(issue));
    }
    return nullptr;
  }

  NodePtr Unexpected(const char* expected) {
    return Fail(tok_.offset,
                absl::StrCat("syntax error: expected ", expected, ", found ", TokenName(tok_)));
  }

  bool Accept(Tok k) {
    if (tok_.kind != k) return false;
    Advance();
    return true;
  }

  // Every node is created here, so the node limit also bounds the recursion of later
  // passes (and of the AST's destructor) on pathological input.
  NodePtr NewNode() {
    if (++nodes_ > limits_.max_nodes && !failed_) {
      Fail(tok_.offset,
           absl::StrCat("expression exceeds the limit of ", limits_.max_nodes, " nodes"));
    }
    return std::make_unique<Node>();
  }

  NodePtr MakeCall(std::string fn, size_t offset, NodePtr a, NodePtr b = nullptr) {
    auto n = NewNode();
    n->kind = Node::Kind::kCall;
    n->name = std::move(fn);
    n->offset = offset;
    n->args.push_back(std::move(a));
    if (b) n->args.push_back(std::move(b));
    return n;
  }

  // expr := or ('?' or ':' expr)?
  NodePtr Expr() {
    if (failed_) return nullptr;
    if (++depth_ > limits_.max_depth) {
      return Fail(tok_.offset,
                  absl::StrCat("expression nesting exceeds the limit of ", limits_.max_depth));
    }
    NodePtr cond = Or();
    if (cond && tok_.kind == Tok::kQuestion) {
      size_t off = tok_.offset;
      Advance();
      NodePtr yes = Or();
      if (!yes) return nullptr;
      if (!Accept(Tok::kColon)) return Unexpected("':'");
      NodePtr no = Expr();
      if (!no) return nullptr;
      auto n = MakeCall("_?_:_", off, std::move(cond), std::move(yes));
      n->args.push_back(std::move(no));
      cond = std::move(n);
    }
    --depth_;
    return failed_ ? nullptr : std::move(cond);
  }

  NodePtr Or() {
    NodePtr l = And();
    while (l && tok_.kind == Tok::kOr) {
      size_t off = tok_.offset;
      Advance();
      NodePtr r = And();
      if (!r) return nullptr;
      l = MakeCall("_||_", off, std::move(l), std::move(r));
    }
    return l;
  }

  NodePtr And() {
    NodePtr l = Relation();
    while (l && tok_.kind == Tok::kAnd) {
      size_t off = tok_.offset;
      Advance();
      NodePtr r = Relation();
      if (!r) return nullptr;
      l = MakeCall("_&&_", off, std::move(l), std::move(r));
    }
    return l;
  }

  NodePtr Relation() {
    NodePtr l = Addition();
    while (l) {
      const char* fn = nullptr;
      switch (tok_.kind) {
        case Tok::kEq:
          fn = "_==_";
          break;
        case Tok::kNe:
          fn = "_!=_";
          break;
        case Tok::kLt:
          fn = "_<_";
          break;
        case Tok::kLe:
          fn = "_<=_";
          break;
        case Tok::kGt:
          fn = "_>_";
          break;
        case Tok::kGe:
          fn = "_>=_";
          break;
        case Tok::kIn:
          fn = "@in";
          break;
        default:
          break;
      }
      if (fn == nullptr) break;
      size_t off = tok_.offset;
      Advance();
      NodePtr r = Addition();
      if (!r) return nullptr;
      l = MakeCall(fn, off, std::move(l), std::move(r));
    }
    return l;
  }

  NodePtr Addition() {
    NodePtr l = Multiplication();
    while (l && (tok_.kind == Tok::kPlus || tok_.kind == Tok::kMinus)) {
      const char* fn = tok_.kind == Tok::kPlus ? "_+_" : "_-_";
      size_t off = tok_.offset;
      Advance();
      NodePtr r = Multiplication();
      if (!r) return nullptr;
      l = MakeCall(fn, off, std::move(l), std::move(r));
    }
    return l;
  }

  NodePtr Multiplication() {
    NodePtr l = Unary();
    while (l &&
           (tok_.kind == Tok::kStar || tok_.kind == Tok::kSlash || tok_.kind == Tok::kPercent)) {
      const char* fn = tok_.kind == Tok::kStar ? "_*_" : (tok_.kind == Tok::kSlash ? "_/_" : "_%_");
      size_t off = tok_.offset;
      Advance();
      NodePtr r = Unary();
      if (!r) return nullptr;
      l = MakeCall(fn, off, std::move(l), std::move(r));
    }
    return l;
  }

  NodePtr Unary() {
    if (tok_.kind == Tok::kNot || tok_.kind == Tok::kMinus) {
      Tok op = tok_.kind;
      std::vector<size_t> offsets;
      while (tok_.kind == op) {
        offsets.push_back(tok_.offset);
        Advance();
      }
      NodePtr operand;
      if (op == Tok::kMinus && (tok_.kind == Tok::kInt || tok_.kind == Tok::kDouble)) {
        // A minus directly before a numeric literal is part of the literal, so that
        // -9223372036854775808 is representable.
        operand = Literal(true, offsets.back());
        offsets.pop_back();
        if (operand) operand = MemberSuffix(std::move(operand));
      } else if (tok_.kind == Tok::kNot || tok_.kind == Tok::kMinus) {
        operand = Unary();
      } else {
        operand = Member();
      }
      if (!operand) return nullptr;
      for (auto it = offsets.rbegin(); it != offsets.rend(); ++it) {
        operand = MakeCall(op == Tok::kNot ? "!_" : "-_", *it, std::move(operand));
      }
      return operand;
    }
    return Member();
  }

  NodePtr Member() {
    NodePtr n = Primary();
    if (!n) return nullptr;
    return MemberSuffix(std::move(n));
  }

  NodePtr MemberSuffix(NodePtr n) {
    while (n) {
      if (tok_.kind == Tok::kDot) {
        size_t off = tok_.offset;
        Advance();
        if (tok_.kind != Tok::kIdent && tok_.kind != Tok::kQuotedIdent) {
          return Unexpected("a field name");
        }
        bool quoted = tok_.kind == Tok::kQuotedIdent;
        std::string name = tok_.text;
        size_t name_off = tok_.offset;
        Advance();
        if (quoted && tok_.kind == Tok::kLParen) {
          return Fail(name_off, "a quoted field name cannot be called as a method");
        }
        if (tok_.kind == Tok::kLParen) {
          Advance();
          std::vector<NodePtr> args;
          if (!Args(Tok::kRParen, &args)) return nullptr;
          n = MethodCall(std::move(n), name, name_off, std::move(args));
        } else {
          auto s = NewNode();
          s->kind = Node::Kind::kSelect;
          s->name = name;
          s->offset = off;
          s->args.push_back(std::move(n));
          n = std::move(s);
        }
      } else if (tok_.kind == Tok::kLBracket) {
        size_t off = tok_.offset;
        Advance();
        NodePtr index = Expr();
        if (!index) return nullptr;
        if (!Accept(Tok::kRBracket)) return Unexpected("']'");
        n = MakeCall("_[_]", off, std::move(n), std::move(index));
      } else if (tok_.kind == Tok::kLBrace && n->kind == Node::Kind::kIdent) {
        return Fail(tok_.offset, "message construction is not supported in playbook expressions");
      } else {
        break;
      }
    }
    return n;
  }

  // Parses comma-separated expressions up to `close` (consumed).
  bool Args(Tok close, std::vector<NodePtr>* out) {
    if (Accept(close)) return true;
    while (true) {
      NodePtr e = Expr();
      if (!e) return false;
      out->push_back(std::move(e));
      if (Accept(close)) return true;
      if (!Accept(Tok::kComma)) {
        Unexpected(close == Tok::kRParen ? "',' or ')'" : "',' or ']'");
        return false;
      }
      if (close == Tok::kRBracket && Accept(close)) return true;  // trailing comma
    }
  }

  NodePtr MethodCall(NodePtr target, const std::string& name, size_t off,
                     std::vector<NodePtr> args) {
    // Macro name, argument count -> kind; two-variable forms take one more argument.
    struct MacroSig {
      const char* name;
      size_t args;
      int vars;
      MacroKind kind;
    };
    static const MacroSig kMacros[] = {
        {"all", 2, 1, MacroKind::kAll},
        {"exists", 2, 1, MacroKind::kExists},
        {"exists_one", 2, 1, MacroKind::kExistsOne},
        {"existsOne", 2, 1, MacroKind::kExistsOne},
        {"filter", 2, 1, MacroKind::kFilter},
        {"map", 2, 1, MacroKind::kMap},
        {"map", 3, 1, MacroKind::kMapFilter},
        {"all", 3, 2, MacroKind::kAll},
        {"exists", 3, 2, MacroKind::kExists},
        {"exists_one", 3, 2, MacroKind::kExistsOne},
        {"existsOne", 3, 2, MacroKind::kExistsOne},
        {"transformList", 3, 2, MacroKind::kTransformList},
        {"transformList", 4, 2, MacroKind::kTransformListFilter},
        {"transformMap", 3, 2, MacroKind::kTransformMap},
        {"transformMap", 4, 2, MacroKind::kTransformMapFilter},
    };
    for (const MacroSig& m : kMacros) {
      if (name != m.name || args.size() != m.args) continue;
      for (int v = 0; v < m.vars; ++v) {
        if (args[static_cast<size_t>(v)]->kind != Node::Kind::kIdent) {
          return Fail(args[static_cast<size_t>(v)]->offset,
                      absl::StrCat("the variable arguments of ", name, "() must be simple names"));
        }
      }
      auto c = NewNode();
      c->kind = Node::Kind::kComprehension;
      c->macro = m.kind;
      c->name = args[0]->name;
      if (m.vars == 2) c->name2 = args[1]->name;
      c->offset = off;
      c->args.push_back(std::move(target));
      for (size_t i = static_cast<size_t>(m.vars); i < args.size(); ++i) {
        c->args.push_back(std::move(args[i]));
      }
      return c;
    }
    auto call = NewNode();
    call->kind = Node::Kind::kCall;
    call->name = name;
    call->offset = off;
    call->receiver_style = true;
    call->args.push_back(std::move(target));
    for (auto& a : args) call->args.push_back(std::move(a));
    return call;
  }

  NodePtr Literal(bool negate, size_t offset) {
    auto n = NewNode();
    n->kind = Node::Kind::kConst;
    n->offset = offset;
    const std::string text = negate ? "-" + tok_.text : tok_.text;
    switch (tok_.kind) {
      case Tok::kInt: {
        int64_t v;
        bool ok;
        if (tok_.text.rfind("0x", 0) == 0) {
          uint64_t u;
          ok = absl::SimpleHexAtoi(tok_.text.substr(2), &u);
          ok = ok && (negate ? u <= 9223372036854775808ull : u <= 9223372036854775807ull);
          v = negate ? static_cast<int64_t>(0 - u) : static_cast<int64_t>(u);
        } else {
          ok = absl::SimpleAtoi(text, &v);
        }
        if (!ok) return Fail(offset, absl::StrCat("integer literal ", text, " is out of range"));
        n->constant = Value::Int(v);
        break;
      }
      case Tok::kUint: {
        uint64_t v;
        bool ok = tok_.text.rfind("0x", 0) == 0 ? absl::SimpleHexAtoi(tok_.text.substr(2), &v)
                                                : absl::SimpleAtoi(tok_.text, &v);
        if (!ok) return Fail(offset, absl::StrCat("unsigned literal ", text, "u is out of range"));
        n->constant = Value::Uint(v);
        break;
      }
      case Tok::kDouble: {
        errno = 0;
        double d = std::strtod(text.c_str(), nullptr);
        n->constant = Value::Double(d);
        break;
      }
      default:
        return Unexpected("a literal");
    }
    Advance();
    return n;
  }

  NodePtr Primary() {
    if (failed_) return nullptr;
    size_t off = tok_.offset;
    switch (tok_.kind) {
      case Tok::kInt:
      case Tok::kUint:
      case Tok::kDouble:
        return Literal(false, off);
      case Tok::kString:
      case Tok::kBytes: {
        auto n = NewNode();
        n->offset = off;
        if (tok_.kind == Tok::kString) {
          n->constant = Value::String(tok_.text);
        } else {
          n->constant = Value::Bytes(tok_.text);
        }
        Advance();
        return n;
      }
      case Tok::kTrue:
      case Tok::kFalse:
      case Tok::kNull: {
        auto n = NewNode();
        n->offset = off;
        n->constant =
            tok_.kind == Tok::kNull ? Value::Null() : Value::Bool(tok_.kind == Tok::kTrue);
        Advance();
        return n;
      }
      case Tok::kLParen: {
        Advance();
        NodePtr e = Expr();
        if (!e) return nullptr;
        if (!Accept(Tok::kRParen)) return Unexpected("')'");
        return e;
      }
      case Tok::kLBracket: {
        Advance();
        auto n = NewNode();
        n->kind = Node::Kind::kList;
        n->offset = off;
        if (!Args(Tok::kRBracket, &n->args)) return nullptr;
        return n;
      }
      case Tok::kLBrace: {
        Advance();
        auto n = NewNode();
        n->kind = Node::Kind::kMap;
        n->offset = off;
        while (!Accept(Tok::kRBrace)) {
          NodePtr k = Expr();
          if (!k) return nullptr;
          if (!Accept(Tok::kColon)) return Unexpected("':'");
          NodePtr v = Expr();
          if (!v) return nullptr;
          n->args.push_back(std::move(k));
          n->args.push_back(std::move(v));
          if (Accept(Tok::kRBrace)) break;
          if (!Accept(Tok::kComma)) return Unexpected("',' or '}'");
        }
        return n;
      }
      case Tok::kDot:
        Advance();
        if (tok_.kind != Tok::kIdent) return Unexpected("an identifier");
        [[fallthrough]];
      case Tok::kIdent: {
        std::string name = tok_.text;
        if (IsReserved(name))
          return Fail(tok_.offset, absl::StrCat("reserved identifier '", name, "'"));
        size_t name_off = tok_.offset;
        Advance();
        if (tok_.kind == Tok::kLParen) {
          Advance();
          std::vector<NodePtr> args;
          if (!Args(Tok::kRParen, &args)) return nullptr;
          if (name == "has" && args.size() == 1) {
            if (args[0]->kind != Node::Kind::kSelect) {
              return Fail(args[0]->offset,
                          "invalid argument to has() macro: expected a field selection such as "
                          "has(opp.close_date)");
            }
            args[0]->test_only = true;
            return std::move(args[0]);
          }
          auto call = NewNode();
          call->kind = Node::Kind::kCall;
          call->name = name;
          call->offset = name_off;
          call->args = std::move(args);
          return call;
        }
        auto n = NewNode();
        n->kind = Node::Kind::kIdent;
        n->name = name;
        n->offset = name_off;
        return n;
      }
      default:
        return Unexpected("an expression");
    }
  }

  Lexer lexer_;
  const Limits& limits_;
  std::vector<Issue>* issues_;
  Token tok_;
  bool failed_ = false;
  int depth_ = 0;
  int nodes_ = 0;
};

}  // namespace

std::unique_ptr<Node> Parse(absl::string_view source, const Limits& limits,
                            std::vector<Issue>* issues) {
  Parser p(source, limits, issues);
  return p.ParseAll();
}

void PositionIssue(absl::string_view source, Issue* issue) {
  int line = 1, column = 1;
  for (size_t i = 0; i < issue->offset && i < source.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(source[i]);
    if (c == '\n') {
      ++line;
      column = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++column;
    }
  }
  issue->line = line;
  issue->column = column;
}

}  // namespace dealcoach::expr
