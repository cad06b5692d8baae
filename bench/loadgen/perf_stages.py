#!/usr/bin/env python3
"""Where a request's server CPU goes, by stage, from `perf script` output.

    perf script -i perf.data -F comm,tid,ip,sym | \
        python3 perf_stages.py --hz 499 --requests N [--label L] [--json out.json]

Each sample (one per 1/hz s of CPU of some server thread, any thread) is attributed to
the first of STAGES that any frame of its stack names (so malloc inside the engine is
the engine's); failing those, to the innermost frame naming one of CONTAINERS (the
metrics interceptor runs the handler inside its own frames, so it must not claim what
the handler does); failing that, the sample is gRPC core, the kernel's TCP loopback and
syscalls, or the allocator outside our code ("transport"). CPU per request =
samples / hz / requests. Prints a Markdown table; --json writes the figures.
"""
import argparse
import json
import re
import sys

# (stage, regex over a demangled frame). Checked from the leaf frame up; within a frame
# in this order.
STAGES = [
    ("parse request", r"ParseInto<|ParseRequest<"),
    ("validate inline opportunity", r"ValidateInlineOpportunity"),
    ("normalize inline opportunity", r"NormalizeOpportunity"),
    ("copy inline opportunity", r"v1::Opportunity::Opportunity\(dealcoach::v1::Opportunity const&|"
                                r"v1::Opportunity::MergeFrom|Opportunity::CopyFrom"),
    ("id lookup (opportunity cache)", r"OpportunitySource::Get"),
    ("evaluate (engine, builds the answer)", r"dealcoach::engine::"),
    ("decision log: input hash (serialize + SHA-256)", r"InputHash"),
    ("decision log: queue the decision", r"LogDecision|DecisionLogger::Log\b"),
    ("decision log: writer thread (SQLite)", r"DecisionLogger::Run|DecisionLogger::Write|sqlite3"),
    ("serialize response", r"SerializationTraits<.*Serialize"),
    ("playbook snapshot lookup", r"ResolvePlaybook|SnapshotHolder::Get"),
    ("arena teardown", r"ThreadSafeArena::~|Arena::~Arena|ThreadSafeArena::Free"),
    ("Health/Check handler", r"HealthCheckServiceImpl|DefaultHealthCheckService"),
]
CONTAINERS = [
    ("metrics interceptor", r"dealcoach::metrics::"),
    ("handler, rest (status, context checks, dispatch)", r"dealcoach::server::"),
]
COMPILED = [(name, re.compile(rx)) for name, rx in STAGES]
COMPILED_CONTAINERS = [(name, re.compile(rx)) for name, rx in CONTAINERS]
TRANSPORT = "transport (gRPC core, HTTP/2, loopback TCP, syscalls, allocator)"


def samples(stream):
    """Yields (comm, [frames leaf first]) from `perf script` text."""
    comm, frames = None, []
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if comm is not None:
                yield comm, frames
            comm, frames = None, []
            continue
        if not line.startswith((" ", "\t")):
            if comm is not None:
                yield comm, frames
            comm, frames = line.split()[0], []
        else:
            parts = line.strip().split(None, 1)
            frames.append(parts[1] if len(parts) > 1 else parts[0])
    if comm is not None:
        yield comm, frames


def classify(frames):
    for name, rx in COMPILED:
        if any(rx.search(frame) for frame in frames):
            return name
    for frame in frames:
        for name, rx in COMPILED_CONTAINERS:
            if rx.search(frame):
                return name
    return TRANSPORT


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hz", type=float, required=True)
    ap.add_argument("--requests", type=float, required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--json")
    a = ap.parse_args()
    counts = {}
    total = 0
    for _, frames in samples(sys.stdin):
        stage = classify(frames)
        counts[stage] = counts.get(stage, 0) + 1
        total += 1
    if total == 0 or a.requests <= 0:
        sys.exit("perf_stages: no samples or no requests")
    us_per_sample = 1e6 / a.hz
    order = [n for n, _ in STAGES] + [n for n, _ in CONTAINERS] + [TRANSPORT]
    rows = []
    for name in order:
        n = counts.get(name, 0)
        if n:
            rows.append({"stage": name, "samples": n, "share": n / total,
                         "us_per_request": n * us_per_sample / a.requests})
    cpu = total * us_per_sample / a.requests
    print(f"{a.label}: {total} samples at {a.hz:g} Hz, {a.requests:.0f} requests, "
          f"{cpu:.1f} µs of server CPU per request")
    print("| stage | share | µs per request |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} | {100 * r['share']:.1f}% | {r['us_per_request']:.2f} |")
    print(f"| **total** | 100% | **{cpu:.2f}** |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"label": a.label, "samples": total, "hz": a.hz, "requests": a.requests,
                       "cpu_us_per_request": cpu, "stages": rows}, f, indent=1)


if __name__ == "__main__":
    main()
