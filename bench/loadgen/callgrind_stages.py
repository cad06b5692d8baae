#!/usr/bin/env python3
"""Instructions per request by stage, from `callgrind_annotate --inclusive=yes` output.

    callgrind_annotate --inclusive=yes --threshold=100 cg.out | \
        python3 callgrind_stages.py --requests N [--label L] [--json out.json]

Each stage is the largest inclusive count among the functions its regex names (the
stage's entry point: nested calls of the same stage are inside it), divided by the
number of requests. Stages overlap (the handler contains the engine); the table says
which contains which. "whole process" is every instruction callgrind counted while
collection was on, all threads (gRPC's, the decision log's writer, the sync loop).
"""
import argparse
import json
import re
import sys

# Work driven by the clock, not by requests: under callgrind the server runs ~50x slower,
# so a run's wall time (and with it this work) varies with the machine's load, and its
# share per request is far larger than at full speed. Reported, and subtracted in the
# "less time-driven work" row, which is the figure to compare between runs.
TIMED = "time-driven: playbook reloader poll (per wall-clock second, not per request)"
LESS_TIMED = "whole process less time-driven work"

STAGES = [
    ("whole process (all threads)", None),
    ("gRPC callback handler (whole call)", r"CallbackHandler<"),
    ("  authorize the call", r"dealcoach::server::AuthorizeCall\("),
    ("  clear the reused request's last deal (RequestSlot)", r"dealcoach::v1::Opportunity::Clear\(\)"),
    ("  parse request", r"ParseRequest(Into)?<"),
    ("  opportunity bytes for the input hash (copy, map order)", r"server::\(anonymous namespace\)::(WireFieldBytes|SortFieldsMapEntries)\("),
    ("  request limits (ValidateInlineOpportunity)", r"ValidateInlineOpportunity\("),
    ("  copy inline opportunity", r"dealcoach::v1::Opportunity::Opportunity\(dealcoach::v1::Opportunity const&\)"),
    ("  normalize inline opportunity", r"NormalizeOpportunityAsOf\("),
    ("  id lookup (cache)", r"OpportunitySource::GetCached\("),
    ("  evaluate (engine, builds the answer)", r"CompiledPlaybookImpl::(EvaluateInto|Evaluate)\("),
    ("  decision log: queue (LogDecision)", r"dealcoach::server::(\(anonymous namespace\)::)?LogDecision\("),
    ("  serialize response", r"SerializationTraits<.*>::Serialize|SerializeToZeroCopy|InternalSerialize.*GetDealGuidanceResponse"),
    ("  response / request destruction", r"GetDealGuidanceResponse::~|GetDealGuidanceRequest::~"),
    ("decision log writer thread", r"DecisionLogger::Run\("),
    ("  input hash (serialize + SHA-256)", r"dealcoach::store::InputHash"),
    ("    of which SHA-256 (software under valgrind)", r"\?\?\?:SHA256 "),
    ("  SQLite (sqlite3_step)", r"\?\?\?:sqlite3_step "),
    ("Health/Check handler", r"HealthCheckServiceImpl::Check|DefaultHealthCheckService.*Check"),
    ("metrics interceptor", r"dealcoach::metrics::"),
    (TIMED, r"PlaybookReloader::PollOnceLocked\("),
]

LINE = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(?:\*\s+)?(.*)$")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=float, required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--json")
    args = ap.parse_args()
    total = None
    best = {name: 0 for name, _ in STAGES}
    compiled = [(name, re.compile(rx) if rx else None) for name, rx in STAGES]
    for line in sys.stdin:
        m = LINE.match(line)
        if not m:
            continue
        count = int(m.group(1).replace(",", ""))
        what = m.group(2)
        if "PROGRAM TOTALS" in what:
            total = count
            continue
        for name, rx in compiled:
            if rx is not None and rx.search(what):
                best[name] = max(best[name], count)
    if total is not None:
        best["whole process (all threads)"] = total
    n = args.requests
    print(f"| {args.label} | instructions per request | share of whole process |")
    print("|---|---|---|")
    rows = {}
    for name, _ in STAGES:
        v = best[name]
        if v == 0:
            continue
        per = v / n
        rows[name.strip()] = per
        share = f"{100.0 * v / total:.1f}%" if total else ""
        print(f"| {name} | {per:,.0f} | {share} |")
    if total is not None and best[TIMED] > 0:
        v = total - best[TIMED]
        rows[LESS_TIMED] = v / n
        print(f"| {LESS_TIMED} | {v / n:,.0f} | {100.0 * v / total:.1f}% |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"label": args.label, "requests": n, "instructions_per_request": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
