#!/usr/bin/env python3
"""Regenerates the committed seed corpora in tests/fuzz/corpus/<target>/ from the
repository's own inputs (shipped playbooks, samples, default mappings, cel-spec
conformance expressions). Seeds are named by content hash, so reruns are stable.

The CRM record seeds (salesforce/hubspot/dynamics_record_fuzzer) are not generated
here: they are records captured from the connectors' wire-format fakes
(connectors/*/testing) and kept as they are.

Usage: python3 tests/fuzz/make_corpus.py   (from the repository root)
"""
import glob
import hashlib
import json
import os
import shutil

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests/fuzz/corpus")


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def reset(target):
    shutil.rmtree(os.path.join(CORPUS, target), ignore_errors=True)


def conditions(node):
    """Every string under a `when`/`unless`/`value`-like key of a playbook."""
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, str) and k in ("when", "unless", "expr", "value", "condition"):
                yield v
            else:
                yield from conditions(v)
    elif isinstance(node, list):
        for v in node:
            yield from conditions(v)


def main():
    playbooks = sorted(p for p in glob.glob(os.path.join(ROOT, "config/playbooks/*.yaml"))
                       if not p.endswith("_test.yaml"))

    reset("playbook_fuzzer")
    for p in playbooks + [os.path.join(ROOT, "tests/integration/testdata/broken_playbook.yaml")]:
        write("playbook_fuzzer", open(p, "rb").read())

    # Expressions: the playbooks' conditions plus every 4th distinct cel-spec expression.
    reset("expr_fuzzer")
    for p in playbooks:
        for c in conditions(yaml.safe_load(open(p))):
            write("expr_fuzzer", c)
    data = json.load(open(os.path.join(ROOT, "tests/conformance/testdata/cel_spec.json")))
    exprs = sorted({t["expr"] for t in data["tests"]})
    for e in exprs[::4]:
        write("expr_fuzzer", e)

    # Opportunities in proto3 JSON (the fuzzer also mutates them into the binary form).
    reset("opportunity_fuzzer")
    for o in json.load(open(os.path.join(ROOT, "config/samples/opportunities.json")))[::3]:
        write("opportunity_fuzzer", json.dumps(o, separators=(",", ":")))
    for p in sorted(glob.glob(os.path.join(ROOT, "config/samples/deals/*.json"))):
        write("opportunity_fuzzer", open(p, "rb").read())

    reset("mapping_fuzzer")
    for p in sorted(glob.glob(os.path.join(ROOT, "connectors/*/default_mapping.yaml"))):
        write("mapping_fuzzer", open(p, "rb").read())


if __name__ == "__main__":
    main()
