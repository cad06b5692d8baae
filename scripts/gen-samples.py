#!/usr/bin/env python3
"""Generates config/samples/opportunities.json: realistic sample deals for the shipped
playbooks, in proto3 JSON (snake_case field names of proto/dealcoach/v1/opportunity.proto).

Python 3 standard library only. Deterministic: the same input gives the same file.
All dates are anchored around NOW = 2026-11-20T12:00:00Z (the file connector can rebase
them to the present; playbook tests use now = 2026-11-20T12:00:00Z).

Each deal is built from a spec: `level` = how many exit gates of customer-journey.yaml
the evidence passes (0 = awareness ... 5 = every gate), `gap` = which criterion of the
next gate is missing and how ("unmet" or "unknown" = not recorded), the CRM `stage`
(which may claim more than the evidence: stage ahead of evidence), plus leading-
indicator risks (stalled, pushed close dates, single-threaded, negative economic buyer).

Usage: python3 scripts/gen-samples.py          # writes config/samples/opportunities.json
                                                # and config/samples/deals/*.json
       python3 scripts/gen-samples.py --stdout # prints the array instead
"""

import datetime as dt
import json
import os
import sys

NOW = dt.datetime(2026, 11, 20, 12, 0, 0, tzinfo=dt.timezone.utc)

STAGES = ["Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
          "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote",
          "Negotiation/Review", "Closed Won", "Closed Lost"]

REPS = [
    {"id": "005000000000011AAA", "name": "Maya Patel", "manager_id": "005000000000001AAA",
     "team": "Enterprise East"},
    {"id": "005000000000012AAA", "name": "Jonas Weber", "manager_id": "005000000000001AAA",
     "team": "Enterprise East"},
    {"id": "005000000000013AAA", "name": "Lucia Romero", "manager_id": "005000000000002AAA",
     "team": "Mid-Market West"},
    {"id": "005000000000014AAA", "name": "Daniel Okafor", "manager_id": "005000000000002AAA",
     "team": "Mid-Market West"},
]

ACCOUNTS = [
    ("Northwind Logistics", "Transportation", 4200, "enterprise"),
    ("Contoso Health", "Healthcare", 12000, "enterprise"),
    ("Fabrikam Manufacturing", "Manufacturing", 2600, "mid-market"),
    ("Tailspin Airlines", "Transportation", 9800, "enterprise"),
    ("Adventure Works Retail", "Retail", 1500, "mid-market"),
    ("Litware Software", "Technology", 640, "mid-market"),
    ("Woodgrove Bank", "Financial Services", 21000, "enterprise"),
    ("Proseware Labs", "Life Sciences", 380, "smb"),
    ("Lucerne Publishing", "Media", 900, "mid-market"),
    ("Wide World Importers", "Wholesale", 3100, "mid-market"),
    ("Blue Yonder Airlines", "Transportation", 5400, "enterprise"),
    ("Coho Winery", "Food & Beverage", 220, "smb"),
    ("Alpine Ski House", "Hospitality", 450, "smb"),
    ("Trey Research", "Professional Services", 1200, "mid-market"),
    ("Fourth Coffee", "Food & Beverage", 800, "mid-market"),
    ("Margie's Travel", "Hospitality", 300, "smb"),
    ("Relecloud", "Technology", 7600, "enterprise"),
    ("VanArsdel Ltd", "Manufacturing", 5100, "enterprise"),
]

PRODUCTS = ["Route Optimization", "Patient Scheduling", "Plant Analytics", "Crew Planning",
            "Store Replenishment", "Developer Platform", "Fraud Analytics", "Lab Data Hub",
            "Editorial Workflow", "Customs Automation", "Revenue Management", "Vineyard IoT",
            "Guest Experience", "Research Data Platform", "Supply Planning", "Booking Engine",
            "Cloud Cost Control", "Quality Vision"]

FIRST = ["Alex", "Priya", "Chen", "Fatima", "Marco", "Sofia", "Liam", "Aisha", "Noah", "Elena",
         "Kenji", "Zara", "Omar", "Ingrid", "Ravi", "Chloe", "Mateo", "Hana", "Yusuf", "Greta"]
LAST = ["Nguyen", "Schmidt", "Garcia", "Kowalski", "Rossi", "Haddad", "Larsen", "Tanaka",
        "Mensah", "Dubois", "Silva", "Novak", "Iyer", "Brennan", "Ozturk", "Moreau"]


def ts(d):
    return d.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def days_ago(n, hour=15):
    d = NOW - dt.timedelta(days=n)
    return d.replace(hour=hour, minute=0, second=0)


def midnight(d):
    return d.replace(hour=0, minute=0, second=0, microsecond=0)


# Gate criteria of customer-journey.yaml, in phase order.
GATES = [
    ["community-pain", "decision-to-change"],                             # awareness
    ["economic-buyer-identified", "champion", "decision-criteria"],       # consideration
    ["economic-buyer-met", "business-case-validated", "technical-validation"],  # evaluation
    ["mutual-action-plan", "paper-process", "signed"],                    # decision
    ["go-live", "value-confirmed"],                                       # implementation
]


class Deal:
    def __init__(self, n, spec):
        self.n = n
        self.spec = spec
        self.counter = 0

    def person(self, k):
        i = (self.n * 7 + k * 3) % len(FIRST)
        j = (self.n * 5 + k * 11) % len(LAST)
        return f"{FIRST[i]} {LAST[j]}"

    def cid(self, k):
        return f"003{self.n:09d}{k:03d}AAA"

    def build(self):
        s = self.spec
        n = self.n
        level = s["level"]
        gap, mode = s.get("gap", (None, None))
        account = ACCOUNTS[n % len(ACCOUNTS)]
        rep = REPS[n % len(REPS)]
        stage = s["stage"]

        def passes(criterion):
            """True when the deal's evidence meets `criterion`."""
            for g, crits in enumerate(GATES):
                if criterion in crits:
                    if g < level:
                        return True
                    if g == level:
                        return criterion != gap
                    return criterion in s.get("extra", [])
            raise KeyError(criterion)

        last_meeting = s.get("last_meeting", 6)
        contacts = []
        # Primary contact: the user buyer who brought us in.
        contacts.append({
            "id": self.cid(1), "name": self.person(1), "title": "Director of Operations",
            "roles": ["user_buyer"], "confirmed_pain": True, "sentiment": "positive",
            "last_met_at": ts(days_ago(last_meeting)), "is_primary": True})
        single = s.get("single_threaded", False)
        if not single:
            second_pain = passes("community-pain")
            c2 = {"id": self.cid(2), "name": self.person(2), "title": "Operations Manager",
                  "roles": ["user_buyer"], "sentiment": "neutral",
                  "last_met_at": ts(days_ago(last_meeting + 9))}
            if second_pain:
                c2["confirmed_pain"] = True
            elif mode == "unmet":
                c2["confirmed_pain"] = False
            contacts.append(c2)
            if passes("champion"):
                contacts[0]["roles"].append("champion")
            elif level >= 1 and mode == "unmet":
                contacts.append({"id": self.cid(3), "name": self.person(3),
                                 "title": "Senior Analyst", "roles": ["coach"],
                                 "sentiment": "neutral"})
            if passes("economic-buyer-identified"):
                eb = {"id": self.cid(4), "name": self.person(4), "title": "Chief Operating Officer",
                      "roles": ["economic_buyer"]}
                if passes("economic-buyer-met"):
                    eb["last_met_at"] = ts(days_ago(s.get("eb_met", last_meeting + 4)))
                    eb["sentiment"] = s.get("eb_sentiment", "positive")
                contacts.append(eb)
            if level >= 2:
                tb = {"id": self.cid(5), "name": self.person(5), "title": "Head of IT Architecture",
                      "roles": ["technical_buyer"], "sentiment": "neutral"}
                if passes("technical-validation"):
                    tb["confirmed_pain"] = True
                    tb["sentiment"] = "positive"
                contacts.append(tb)

        fields = {}

        def field(name, kind, value):
            fields[name] = {kind: value}

        def crit_field(criterion, name, kind, yes, no):
            if passes(criterion):
                field(name, kind, yes)
            elif gap == criterion and mode == "unmet":
                field(name, kind, no)

        crit_field("decision-to-change", "decision_to_change", "bool_value", True, False)
        crit_field("decision-criteria", "decision_criteria", "string_value",
                   "Integration with SAP, 99.9% uptime, payback under 12 months", "")
        crit_field("technical-validation", "technical_validation", "bool_value", True, False)
        crit_field("paper-process", "paper_process", "string_value",
                   "Legal review (2 weeks), then procurement PO; CFO signs above 250k", "")
        crit_field("value-confirmed", "value_realized", "bool_value", True, False)
        if passes("go-live"):
            field("go_live_date", "timestamp_value", ts(midnight(days_ago(20))))
        elif gap == "go-live" and mode == "unmet":
            field("go_live_date", "timestamp_value", ts(midnight(days_ago(-30))))
        # MEDDICC fields follow the evidence too.
        if level >= 1 or s.get("meddicc_pain"):
            field("identified_pain", "string_value",
                  "Manual planning costs 3 FTE and causes 8% late deliveries")
        if level >= 1 and n % 7 != 0:
            field("metrics", "string_value", "Cut late deliveries from 8% to 3% within two quarters")
        if level >= 2 and n % 6 != 1:
            field("decision_process", "string_value",
                  "Evaluation team scores vendors, steering committee decides, COO approves")
        if n % 5 == 2:
            field("compelling_event", "string_value", "Current contract expires in Q1")

        artifacts = []
        if n % 3 != 1 or level >= 2:
            artifacts.append({"kind": "call_plan", "title": "Call plan",
                              "url": f"https://crm.example.com/docs/{n}/call-plan",
                              "updated_at": ts(days_ago(last_meeting + 1))})
        if passes("business-case-validated") or (level == 2 and gap == "business-case-validated"):
            artifacts.append({"kind": "business_case", "title": "Business case",
                              "url": f"https://crm.example.com/docs/{n}/business-case",
                              "updated_at": ts(days_ago(12)),
                              "customer_validated": passes("business-case-validated")})
        if passes("mutual-action-plan") or s.get("draft_map"):
            artifacts.append({"kind": "mutual_action_plan", "title": "Mutual action plan",
                              "url": f"https://crm.example.com/docs/{n}/map",
                              "updated_at": ts(days_ago(8)),
                              "customer_validated": passes("mutual-action-plan")})
        if level >= 4 and n % 2 == 0:
            artifacts.append({"kind": "success_plan", "title": "Customer success plan",
                              "url": f"https://crm.example.com/docs/{n}/success-plan",
                              "updated_at": ts(days_ago(10))})

        # Activities, oldest first; the most recent meeting is `last_meeting` days ago.
        activities = []
        age = s.get("age", 40 + 12 * min(level, 4) + (n % 5) * 6)
        created = days_ago(age, hour=9)
        points = sorted({last_meeting + 21, last_meeting + 10, last_meeting})
        kinds = ["meeting", "call", "meeting"]  # most recent first
        for k, d in enumerate(points):
            if d >= age:
                continue
            self.counter += 1
            activities.append({
                "id": f"00T{n:09d}{self.counter:03d}AAA", "type": kinds[k % 3],
                "at": ts(days_ago(d, hour=14)),
                "subject": ["Follow-up meeting", "Discovery call", "Pain workshop"][k % 3],
                "participant_ids": [c["id"] for c in contacts[:2]],
                "outcome": "completed"})
        if s.get("last_email") is not None:
            self.counter += 1
            activities.append({"id": f"00T{n:09d}{self.counter:03d}AAA", "type": "email",
                               "at": ts(days_ago(s["last_email"], hour=10)),
                               "subject": "Checking in", "participant_ids": [contacts[0]["id"]]})
        activities.sort(key=lambda a: a["at"])

        # Stage history from Prospecting to the current stage.
        if stage == "Closed Lost":
            path = STAGES[:s.get("lost_after", 3)] + ["Closed Lost"]
        else:
            path = STAGES[:STAGES.index(stage) + 1]
        history = []
        step = max(1, (age - 3) // max(1, len(path)))
        for k, st in enumerate(path):
            history.append({"stage": st, "entered_at": ts(days_ago(age - k * step, hour=9 + k % 6))})
        stage_entered = history[-1]["entered_at"]

        closed = stage in ("Closed Won", "Closed Lost")
        won = stage == "Closed Won"
        if closed:
            close = midnight(days_ago(s.get("closed_days_ago", 25)))
        else:
            close = midnight(days_ago(-s.get("close_in", 30 + (n % 4) * 15)))
        pushes = s.get("pushes", 0)
        close_history = []
        original = close - dt.timedelta(days=30 * pushes)
        prev = original
        for k in range(pushes):
            nxt = prev + dt.timedelta(days=30)
            close_history.append({"from_date": ts(prev), "to_date": ts(nxt),
                                  "changed_at": ts(days_ago(10 + (pushes - k) * 18))})
            prev = nxt

        opp = {
            "id": f"006{n:012d}AAA",
            "name": f"{account[0]} - {PRODUCTS[n % len(PRODUCTS)]}",
            "account": {"id": f"001{n % len(ACCOUNTS):012d}AAA", "name": account[0],
                        "industry": account[1], "employees": str(account[2]),
                        "segment": account[3]},
            "owner": rep,
            "stage": stage,
            "stage_entered_at": stage_entered,
            "stage_history": history,
            "amount": float(s.get("amount", 20000 + (n * 7919) % 180000)),
            "currency_code": "EUR" if n % 4 == 3 else "USD",
            "close_date": ts(close),
            "close_date_history": close_history,
            "created_at": ts(created),
            "updated_at": ts(days_ago(min(last_meeting, 3), hour=16)),
            "forecast_category": ("closed" if won else "omitted" if closed
                                  else "commit" if level >= 3 else
                                  "best_case" if level >= 2 else "pipeline"),
            "is_closed": closed,
            "is_won": won,
            "contacts": contacts,
            "activities": activities,
            "artifacts": artifacts,
            "competitors": ([{"name": "Globex", "status": "active"}] if n % 3 == 0 else
                            [{"name": "Initech", "status": "eliminated"}] if level >= 2 else []) +
                           ([{"name": "status quo", "status": "active"}] if level <= 1 else []),
            "fields": fields,
            "source_system": "salesforce",
        }
        if s.get("next_step", True):
            opp["next_step"] = s.get("next_step_text", "Follow-up meeting with the project team")
        meetings = [a["at"] for a in activities if a["type"] == "meeting"]
        if meetings:
            opp["last_meeting_at"] = max(meetings)
        if activities:
            opp["last_activity_at"] = max(a["at"] for a in activities)
        if s.get("no_meetings"):
            opp["activities"] = [a for a in activities if a["type"] != "meeting"]
            opp.pop("last_meeting_at", None)
        if s.get("note"):
            opp["fields"]["sample_note"] = {"string_value": s["note"]}
        return opp


def P(level, stage, gap=None, mode="unmet", **kw):
    spec = {"level": level, "stage": stage, **kw}
    if gap:
        spec["gap"] = (gap, mode)
    return spec


SPECS = [
    # --- Awareness evidence ---
    P(0, "Prospecting", "community-pain", note="single-threaded, early", single_threaded=True),
    P(0, "Qualification", "community-pain", note="second contact has not confirmed the pain"),
    P(0, "Qualification", "decision-to-change", "unknown",
      note="decision to change not recorded (unknown, not unmet)"),
    P(0, "Qualification", "decision-to-change", "unmet", note="customer has not decided to change"),
    P(0, "Needs Analysis", "community-pain", single_threaded=True,
      note="stage ahead of evidence: single-threaded in Needs Analysis"),
    P(0, "Proposal/Price Quote", "community-pain", single_threaded=True, pushes=2,
      note="proposal sent to one contact; close date pushed twice"),
    P(0, "Value Proposition", "decision-to-change", "unknown",
      note="stage ahead; decision to change not recorded"),
    P(0, "Prospecting", "decision-to-change", "unknown", age=10, last_meeting=3),
    P(0, "Qualification", "community-pain", last_meeting=34, no_meetings=True, last_email=30,
      note="stalled: no meeting on record"),
    P(0, "Id. Decision Makers", "decision-to-change", "unmet", last_meeting=26,
      note="stage far ahead; stalled"),
    # --- Consideration evidence ---
    P(1, "Needs Analysis", "economic-buyer-identified"),
    P(1, "Needs Analysis", "champion", note="coach is neutral"),
    P(1, "Value Proposition", "decision-criteria", "unknown",
      note="decision criteria not recorded"),
    P(1, "Value Proposition", "decision-criteria", "unmet"),
    P(1, "Qualification", "economic-buyer-identified", note="CRM stage lags the evidence"),
    P(1, "Perception Analysis", "economic-buyer-identified",
      note="stage ahead: no economic buyer in a late stage"),
    P(1, "Proposal/Price Quote", "champion", pushes=1, note="proposal without a champion"),
    P(1, "Needs Analysis", "economic-buyer-identified", last_meeting=28, pushes=2),
    P(1, "Value Proposition", "champion", next_step=False),
    P(1, "Negotiation/Review", "economic-buyer-identified", pushes=3, last_meeting=23,
      note="negotiating without an economic buyer"),
    # --- Evaluation evidence ---
    P(2, "Id. Decision Makers", "economic-buyer-met"),
    P(2, "Perception Analysis", "business-case-validated"),
    P(2, "Perception Analysis", "technical-validation", "unknown"),
    P(2, "Id. Decision Makers", "technical-validation", "unmet"),
    P(2, "Proposal/Price Quote", "economic-buyer-met",
      note="stage ahead: proposal before meeting the economic buyer"),
    P(2, "Negotiation/Review", "business-case-validated", draft_map=True, pushes=2,
      note="negotiating without a validated business case"),
    P(2, "Value Proposition", "technical-validation", "unknown", note="stage lags the evidence"),
    P(2, "Perception Analysis", "economic-buyer-met", last_meeting=40, no_meetings=True,
      last_email=22, note="stalled"),
    P(2, "Id. Decision Makers", "business-case-validated", eb_sentiment="negative",
      note="economic buyer is negative"),
    P(2, "Perception Analysis", "technical-validation", "unmet", pushes=1),
    # --- Decision evidence ---
    P(3, "Proposal/Price Quote", "mutual-action-plan", draft_map=True,
      note="mutual action plan drafted but not validated by the customer"),
    P(3, "Proposal/Price Quote", "mutual-action-plan"),
    P(3, "Negotiation/Review", "paper-process", "unknown"),
    P(3, "Negotiation/Review", "signed", close_in=12),
    P(3, "Negotiation/Review", "signed", pushes=2, close_in=5),
    P(3, "Proposal/Price Quote", "paper-process", "unmet", last_meeting=24),
    P(3, "Perception Analysis", "signed", note="stage lags: paperwork already agreed"),
    P(3, "Negotiation/Review", "signed", eb_met=35, note="economic buyer not met for 5 weeks"),
    P(3, "Proposal/Price Quote", "mutual-action-plan", pushes=3, last_meeting=30,
      note="stalled proposal, close date pushed three times"),
    P(3, "Negotiation/Review", "signed", close_in=-6, note="close date in the past"),
    # --- Implementation evidence (won) ---
    P(4, "Closed Won", "go-live", "unknown", closed_days_ago=20),
    P(4, "Closed Won", "go-live", "unmet", closed_days_ago=10),
    P(4, "Closed Won", "value-confirmed", "unknown", closed_days_ago=90),
    P(4, "Closed Won", "value-confirmed", "unmet", closed_days_ago=120),
    P(5, "Closed Won", closed_days_ago=200, note="every gate met: value realised"),
    P(5, "Closed Won", closed_days_ago=150),
    # --- Closed lost (stage not mapped to a phase) ---
    P(1, "Closed Lost", "economic-buyer-identified", lost_after=4, closed_days_ago=15),
    P(0, "Closed Lost", "decision-to-change", "unmet", lost_after=2, closed_days_ago=40),
    P(2, "Closed Lost", "business-case-validated", lost_after=6, closed_days_ago=8),
    # --- More open pipeline ---
    P(0, "Prospecting", "community-pain", age=5, last_meeting=2),
    P(1, "Needs Analysis", "decision-criteria", "unknown", age=35),
    P(2, "Perception Analysis", "technical-validation", "unknown", amount=240000),
    P(3, "Negotiation/Review", "signed", amount=410000, close_in=20),
    P(1, "Id. Decision Makers", "champion", note="stage ahead: no champion"),
    P(0, "Qualification", "decision-to-change", "unknown", amount=15000),
]


# Single-deal files for `dealcoach eval --opportunity FILE.json` examples.
SINGLE_DEALS = {
    "stage-ahead-single-threaded.json": "006000000000006AAA",
    "decision-to-change-not-recorded.json": "006000000000003AAA",
    "economic-buyer-never-met.json": "006000000000021AAA",
    "stalled-proposal.json": "006000000000039AAA",
}


def main():
    deals = [Deal(i + 1, spec).build() for i, spec in enumerate(SPECS)]
    if "--stdout" in sys.argv:
        json.dump(deals, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
        return
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "config", "samples")
    with open(os.path.join(root, "opportunities.json"), "w", encoding="utf-8") as f:
        json.dump(deals, f, indent=1, ensure_ascii=False)
        f.write("\n")
    by_id = {d["id"]: d for d in deals}
    os.makedirs(os.path.join(root, "deals"), exist_ok=True)
    for name, deal_id in SINGLE_DEALS.items():
        with open(os.path.join(root, "deals", name), "w", encoding="utf-8") as f:
            json.dump(by_id[deal_id], f, indent=2, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
