// fired_rules: what dealcoach decides for each opportunity of a gen_opportunities dump,
// as the set of rule ids that fire, for the node peers' equivalence check.
//
//   fired_rules --opportunities FILE [--playbook FILE] [--limit N] [--bench-seconds S]
//               [--normalized-out FILE] [--answers-out FILE] [--review-only 1]
//
// Each opportunity is normalised as of the file's "now" (engine::NormalizeOpportunityAsOf,
// as the sidecar does at ingestion and for a push call): contacts' last_met_at derived
// from the activities, `not_recorded` summarised. --normalized-out writes those
// normalised opportunities in the input's shape ({"now", "opportunities"}, proto3 JSON),
// so the node peers evaluate exactly the data dealcoach evaluates.
// --answers-out writes every full answer (guidance with max_behaviors 3, then each
// checklist, from one EvaluateReviewInto on an arena; deterministic serialization, each
// preceded by its length as a decimal line) so that two builds can be compared byte for
// byte.
//
// With --bench-seconds it also times dealcoach on exactly these opportunities, single
// threaded, the way the peers are timed (warm-up, then passes over the data until S
// seconds have passed): Evaluate alone, and Evaluate plus every review checklist (every
// condition of the playbook that applies: the figure compared with the peers; the
// better of two passes, as each peer's figure is its best pass).
//
// It also times every condition of the playbook evaluated alone, no answer built
// ("conditions_only": each distinct condition once per deal, through the engine's
// per-call state, as the full answer evaluates them): the same work as the CEL peers,
// which return bare booleans. The difference to the full answer is the cost of building
// it (protobuf messages, texts, facts).
//
// A rule "fires" when dealcoach reports it as holding: an exit-gate criterion MET in a
// reported gate, a next-best behavior returned (all of them, no top-N cut), a risk, a
// checklist item MET. Output: {"playbook": ..., "fired": {"<opp id>": [ids...]}}.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "sidecar/engine/engine.h"
#include "sidecar/engine/playbook_internal.h"

int main(int argc, char** argv) {
  std::string opportunities_path;
  std::string normalized_path;
  std::string answers_path;
  bool review_only = false;
  std::string playbook_path = DEALCOACH_SOURCE_DIR "/config/playbooks/customer-journey.yaml";
  int limit = 1 << 30;
  double bench_seconds = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--opportunities") {
      opportunities_path = argv[i + 1];
    } else if (a == "--playbook") {
      playbook_path = argv[i + 1];
    } else if (a == "--limit" && absl::SimpleAtoi(argv[i + 1], &limit)) {
    } else if (a == "--normalized-out") {
      normalized_path = argv[i + 1];
    } else if (a == "--review-only") {
      review_only = std::string(argv[i + 1]) == "1";
    } else if (a == "--answers-out") {
      answers_path = argv[i + 1];
    } else if (a == "--bench-seconds" && absl::SimpleAtod(argv[i + 1], &bench_seconds)) {
    } else {
      opportunities_path.clear();
      break;
    }
  }
  if (opportunities_path.empty()) {
    std::fprintf(stderr, "usage: fired_rules --opportunities FILE [--playbook FILE] [--limit N]\n");
    return 2;
  }
  dealcoach::engine::LoadResult loaded = dealcoach::engine::LoadPlaybookFile(playbook_path);
  if (!loaded.ok()) {
    for (const auto& d : loaded.diagnostics) {
      std::fprintf(stderr, "%s\n", dealcoach::engine::FormatDiagnostic(d).c_str());
    }
    return 1;
  }
  const dealcoach::engine::CompiledPlaybook& pb = *loaded.playbook;
  nlohmann::json doc;
  absl::Time now;
  try {
    std::ifstream in(opportunities_path);
    doc = nlohmann::json::parse(in);
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, doc.at("now").get<std::string>(), &now, &err)) {
      std::fprintf(stderr, "fired_rules: bad \"now\": %s\n", err.c_str());
      return 1;
    }
  } catch (const nlohmann::json::exception& e) {
    std::fprintf(stderr, "fired_rules: %s: %s\n", opportunities_path.c_str(), e.what());
    return 1;
  }
  dealcoach::engine::EvaluateOptions options;
  options.max_behaviors = 1 << 20;
  nlohmann::json fired = nlohmann::json::object();
  nlohmann::json normalized = nlohmann::json::array();
  std::vector<dealcoach::v1::Opportunity> all;
  int n = 0;
  for (const nlohmann::json& o : doc.at("opportunities")) {
    if (n++ >= limit) break;
    dealcoach::v1::Opportunity opp;
    auto status = google::protobuf::util::JsonStringToMessage(o.dump(), &opp);
    if (!status.ok()) {
      std::fprintf(stderr, "fired_rules: opportunity %d: %s\n", n, status.ToString().c_str());
      return 1;
    }
    dealcoach::engine::NormalizeOpportunityAsOf(&opp, now);
    if (!normalized_path.empty()) {
      std::string json;
      google::protobuf::util::JsonPrintOptions print;
      print.preserve_proto_field_names = true;
      if (!google::protobuf::util::MessageToJsonString(opp, &json, print).ok()) return 1;
      normalized.push_back(nlohmann::json::parse(json));
    }
    std::vector<std::string> ids;
    dealcoach::v1::DealGuidance g = pb.Evaluate(opp, now, options);
    for (const auto& gate : g.gates()) {
      for (const auto& c : gate.criteria()) {
        if (c.status() == dealcoach::v1::CRITERION_STATUS_MET) ids.push_back(c.rule().id());
      }
    }
    for (const auto& b : g.next_best_behaviors()) ids.push_back(b.rule().id());
    for (const auto& r : g.risks()) ids.push_back(r.rule().id());
    for (const std::string& name : pb.checklist_names()) {
      auto list = pb.EvaluateChecklist(opp, now, name);
      if (!list.ok()) continue;
      for (const auto& item : list->items()) {
        if (item.status() == dealcoach::v1::CRITERION_STATUS_MET) ids.push_back(item.rule().id());
      }
    }
    std::sort(ids.begin(), ids.end());
    fired[opp.id()] = ids;
    all.push_back(std::move(opp));
  }
  if (!normalized_path.empty()) {
    std::ofstream norm(normalized_path);
    norm << nlohmann::json{{"now", doc.at("now")}, {"opportunities", normalized}}.dump();
    if (!norm) {
      std::fprintf(stderr, "fired_rules: cannot write %s\n", normalized_path.c_str());
      return 1;
    }
  }
  if (!answers_path.empty()) {
    std::ofstream answers(answers_path, std::ios::binary);
    const std::vector<std::string> lists = pb.checklist_names();
    for (const auto& opp : all) {
      google::protobuf::Arena arena;
      auto* g = google::protobuf::Arena::CreateMessage<dealcoach::v1::DealGuidance>(&arena);
      std::vector<dealcoach::v1::ReviewChecklist*> outs;
      for (size_t i = 0; i < lists.size(); ++i) {
        outs.push_back(
            google::protobuf::Arena::CreateMessage<dealcoach::v1::ReviewChecklist>(&arena));
      }
      if (!pb.EvaluateReviewInto(opp, now, {}, lists, g, outs).ok()) return 1;
      auto write = [&](const google::protobuf::Message& m) {
        std::string bytes;
        google::protobuf::io::StringOutputStream stream(&bytes);
        google::protobuf::io::CodedOutputStream coded(&stream);
        coded.SetSerializationDeterministic(true);
        m.SerializeToCodedStream(&coded);
        coded.Trim();
        answers << bytes.size() << "\n" << bytes;
      };
      write(*g);
      for (const auto* list : outs) write(*list);
    }
    if (!answers) {
      std::fprintf(stderr, "fired_rules: cannot write %s\n", answers_path.c_str());
      return 1;
    }
  }
  nlohmann::json out = {{"playbook", pb.ref().name()},
                        {"version", pb.ref().version()},
                        {"evidence_note",
                         "criteria MET in reported gates, all fired behaviors, "
                         "risks, checklist items MET"},
                        {"fired", fired}};
  if (bench_seconds > 0 && !all.empty()) {
    const std::vector<std::string> lists = pb.checklist_names();
    // Answers are built on an arena reset after each opportunity, the way a bulk or
    // pipeline worker builds them; guidance and checklists come from one evaluation
    // (EvaluateReviewInto). `heap` times separate heap-allocated calls, as the gRPC
    // handlers make them.
    std::vector<char> block(256 * 1024);
    google::protobuf::ArenaOptions arena_options;
    arena_options.initial_block = block.data();
    arena_options.initial_block_size = block.size();
    google::protobuf::Arena arena(arena_options);
    std::vector<dealcoach::v1::ReviewChecklist*> outs(lists.size());
    // Passes over every opportunity until --bench-seconds have passed (at most 100);
    // `one` does one opportunity's work and returns something to sum, so that it is
    // not optimized away.
    auto timed = [&](const auto& one) {
      using Clock = std::chrono::steady_clock;
      const auto deadline = Clock::now() + std::chrono::duration<double>(bench_seconds);
      int64_t count = 0;
      int64_t sink = 0;
      const auto start = Clock::now();
      for (int pass = 0; pass < 100 && Clock::now() < deadline; ++pass) {
        for (const auto& opp : all) {
          sink += one(opp);
          ++count;
        }
      }
      const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
      if (sink < 0) std::fprintf(stderr, "impossible\n");
      return nlohmann::json{{"evaluations", count}, {"ns_per_opportunity", ns / count}};
    };
    auto time_loop = [&](bool checklists, bool heap) {
      return timed([&](const dealcoach::v1::Opportunity& opp) -> int64_t {
        int64_t sink = 0;
        if (heap) {
          sink += pb.Evaluate(opp, now).next_best_behaviors_size();
          if (checklists) {
            for (const std::string& name : lists) {
              auto list = pb.EvaluateChecklist(opp, now, name);
              if (list.ok()) sink += list->open_items();
            }
          }
          return sink;
        }
        auto* g = google::protobuf::Arena::CreateMessage<dealcoach::v1::DealGuidance>(&arena);
        if (checklists) {
          for (auto& list : outs) {
            list = google::protobuf::Arena::CreateMessage<dealcoach::v1::ReviewChecklist>(&arena);
          }
          if (pb.EvaluateReviewInto(opp, now, {}, lists, g, outs).ok()) {
            for (const auto* list : outs) sink += list->open_items();
          }
        } else {
          pb.EvaluateInto(opp, now, {}, g);
        }
        sink += g->next_best_behaviors_size();
        arena.Reset();
        return sink;
      });
    };
    // Every rule with a condition, as the peers list them (bench/peers/cel.js): gate
    // criteria and behaviors by phase, global behaviors, risks, checklist items.
    namespace internal = dealcoach::engine::internal;
    const auto* impl = dynamic_cast<const internal::CompiledPlaybookImpl*>(&pb);
    std::vector<const internal::Rule*> rules;
    if (impl != nullptr) {
      for (const internal::Phase& phase : impl->phases_) {
        for (const auto& c : phase.gate) rules.push_back(&c);
        for (const auto& b : phase.behaviors) rules.push_back(&b);
      }
      for (const auto& b : impl->global_behaviors_) rules.push_back(&b);
      for (const auto& r : impl->risks_) rules.push_back(&r);
      for (const auto& list : impl->checklists_) {
        for (const auto& item : list.items) rules.push_back(&item);
      }
    }
    auto conditions_loop = [&]() {
      nlohmann::json out = timed([&](const dealcoach::v1::Opportunity& opp) -> int64_t {
        internal::EvalState state(*impl, opp, now);
        int64_t held = 0;
        for (const internal::Rule* rule : rules) {
          held += state.Evaluate(*rule).truth == dealcoach::expr::Truth::kTrue;
        }
        return held;
      });
      out["rules"] = rules.size();
      out["distinct_conditions"] = impl->conditions_.size();
      return out;
    };
    for (size_t i = 0; i < std::min<size_t>(all.size(), 200); ++i) pb.Evaluate(all[i], now);
    // The full answer is timed before and after the heap loop and the faster pass kept,
    // as run.js keeps each peer's best pass (the same allowance for a noisy neighbour on
    // both sides of the ratio).
    // --review-only: the full answer's two passes alone (per-function instruction
    // counts under callgrind, with nothing else calling into the engine).
    const nlohmann::json evaluate = review_only ? nlohmann::json() : time_loop(false, false);
    const nlohmann::json review_first = time_loop(true, false);
    const nlohmann::json heap = review_only ? nlohmann::json() : time_loop(true, true);
    const nlohmann::json review_second = time_loop(true, false);
    const bool first_faster = review_first.at("ns_per_opportunity").get<double>() <=
                              review_second.at("ns_per_opportunity").get<double>();
    nlohmann::json review = first_faster ? review_first : review_second;
    review["passes_ns_per_opportunity"] = {review_first.at("ns_per_opportunity"),
                                           review_second.at("ns_per_opportunity")};
    review["passes_evaluations"] = {review_first.at("evaluations"),
                                    review_second.at("evaluations")};
    out["timing"] = {{"evaluate", evaluate},
                     {"evaluate_with_checklists", review},
                     {"evaluate_with_checklists_heap", heap}};
    if (impl != nullptr && !review_only) out["timing"]["conditions_only"] = conditions_loop();
  }
  std::cout << out.dump(1) << "\n";
  return 0;
}
