#!/usr/bin/env python3
"""Builds the sample pipeline as it was a week before config/samples/opportunities.json.

    python3 config/samples/history/make_history.py   # writes 2026-11-13.json

The file of day D is the pipeline at D 12:00 UTC (the samples are written as of
2026-11-20T12:00:00Z, the file connector's rebase_dates_from anchor). The
sidecar's demo and tests snapshot it (TakeSnapshot with the opportunities
inline, as of the file's instant) and compare the current samples with it, so the review
and the 1:1 agenda show real changes. Every change kind of the pipeline review appears at
least once; the edits below are the story of the week (docs/manager.md).
"""
import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
INSTANT = "2026-11-13T12:00:00Z"
ID = "0060000000000%02dAAA"

# What each deal looked like a week earlier: (deal number, what happened since, edit).
def stage(name):
    def edit(o):
        o["stage"] = name
    return edit

def reopen(stage_then):
    def edit(o):
        o["stage"] = stage_then
        o["is_closed"] = False
        o["is_won"] = False
    return edit

def close_date(day):
    def edit(o):
        o["close_date"] = day + "T00:00:00Z"
    return edit

def amount(value):
    def edit(o):
        o["amount"] = value
    return edit

def undecided(o):
    o["fields"]["decision_to_change"] = {"bool_value": False}

def second_pain_contact(o):
    # A second stakeholder had confirmed the pain; they have since left the account.
    o["contacts"].append({
        "id": "003000000009%03dAAA" % int(o["id"][10:13]),
        "name": "Robin Schultz",
        "title": "VP Operations",
        "roles": ["user_buyer"],
        "confirmed_pain": True,
        "sentiment": "positive",
        "last_met_at": "2026-11-02T15:00:00Z",
    })

STORY = [
    (8, "new since the snapshot", None),
    (50, "new since the snapshot", None),
    (41, "won this week", reopen("Negotiation/Review")),
    (42, "won this week", reopen("Negotiation/Review")),
    (49, "lost this week", reopen("Proposal/Price Quote")),
    (47, "lost this week", reopen("Negotiation/Review")),
    (20, "close date pushed out", close_date("2026-11-30")),
    (39, "close date pushed out", close_date("2027-01-10")),
    (33, "close date pulled in", close_date("2027-01-31")),
    (52, "amount up", amount(200000.0)),
    (22, "amount down", amount(220000.0)),
    (17, "stage moved forward", stage("Perception Analysis")),
    (36, "stage moved back", stage("Negotiation/Review")),
    (13, "evidence advanced: the customer decided to change", undecided),
    (31, "evidence advanced: the customer decided to change", undecided),
    (9, "evidence regressed: a pain contact left", second_pain_contact),
    (2, "evidence regressed: a pain contact left", second_pain_contact),
]


def main():
    with open(os.path.join(HERE, "..", "opportunities.json")) as f:
        current = json.load(f)
    by_id = {o["id"]: o for o in current}
    edits = {ID % n: edit for n, _, edit in STORY}
    out = []
    for o in current:
        if o["id"] in edits and edits[o["id"]] is None:
            continue  # not in the pipeline yet
        then = copy.deepcopy(o)
        # Activities after the snapshot had not happened yet.
        then["activities"] = [a for a in then.get("activities", []) if a["at"] <= INSTANT]
        if then.get("updated_at", "") > INSTANT:
            then["updated_at"] = INSTANT
        if o["id"] in edits:
            edits[o["id"]](then)
        out.append(then)
    assert all(ID % n in by_id for n, _, _ in STORY)
    with open(os.path.join(HERE, INSTANT[:10] + ".json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
