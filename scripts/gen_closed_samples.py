#!/usr/bin/env python3
"""Writes config/samples/closed-deals.json: 120 closed deals for `dealcoach backtest`.

Deterministic (seeded). Each deal is built from the shape of the shipped closed samples
(config/samples/opportunities.json): a full stage history ending in Closed Won / Closed
Lost, contacts with buying roles, activities, artifacts and the customer-journey custom
fields. The evidence varies deal by deal (confirmed-pain contacts, an economic buyer met
or not, a validated business case, technical validation, a positive champion, close-date
pushes, recent meetings), and the outcome is drawn from a model in which some evidence
raises the odds of winning a lot (economic buyer met, validated business case), some a
little (champion), and some not at all (call plan), so the backtest has both signal and
noise to show. Run from the repository root: python3 scripts/gen_closed_samples.py
"""
import json
import random
from datetime import datetime, timedelta, timezone

rng = random.Random(13)
STAGES = ["Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
          "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote",
          "Negotiation/Review"]
REPS = [("005000000000012AAA", "Jonas Weber", "Enterprise East"),
        ("005000000000013AAA", "Lucia Romero", "Enterprise East"),
        ("005000000000014AAA", "Maya Patel", "Mid-Market West"),
        ("005000000000015AAA", "Tom Okafor", "Mid-Market West")]
ACCOUNTS = ["Fabrikam", "Northwind", "Tailspin", "Adventure Works", "Proseware", "Lamna",
            "Trey Research", "Wingtip", "Alpine Ski House", "Coho Winery", "Humongous",
            "Margie's Travel"]
FIRST = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jade", "Kai", "Lea"]
LAST = ["Berg", "Cruz", "Diaz", "Ekwueme", "Fischer", "Gupta", "Holm", "Ito", "Jensen", "Khan"]


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def deal(i):
    rep = REPS[i % len(REPS)]
    account = ACCOUNTS[i % len(ACCOUNTS)]
    start = datetime(2026, 3, 2, 9, tzinfo=timezone.utc) + timedelta(days=2 * i)
    # How far the deal got before it closed (lost deals drop out anywhere).
    evidence = {
        "pain": rng.random() < 0.7,
        "pain_contacts": rng.choice([1, 2, 2, 3]),
        "decided": rng.random() < 0.75,
        "eb_named": rng.random() < 0.7,
        "eb_met": rng.random() < 0.5,
        "champion": rng.random() < 0.6,
        "criteria": rng.random() < 0.65,
        "case_validated": rng.random() < 0.45,
        "tech": rng.choice([True, False, None]),
        "pushes": rng.choice([0, 0, 1, 2, 3]),
        "call_plan": rng.random() < 0.5,
    }
    evidence["eb_met"] = evidence["eb_met"] and evidence["eb_named"]
    logit = -1.2
    logit += 1.6 if evidence["eb_met"] else 0
    logit += 1.3 if evidence["case_validated"] else 0
    logit += 0.5 if evidence["champion"] else 0
    logit -= 0.8 if evidence["pushes"] >= 2 else 0
    logit += 0.4 if evidence["pain"] and evidence["pain_contacts"] >= 2 else 0
    p = 1 / (1 + pow(2.718281828, -logit))
    won = rng.random() < p
    last_open = 7 if won else rng.choice([2, 3, 4, 5, 6, 7])
    history = []
    t = start
    for s in STAGES[: last_open + 1]:
        history.append({"stage": s, "entered_at": ts(t)})
        t += timedelta(days=rng.randint(6, 14))
    closed_at = t
    final = "Closed Won" if won else "Closed Lost"
    history.append({"stage": final, "entered_at": ts(closed_at)})
    n = i + 1
    cid = lambda k: "003C%011d%02dAA" % (n, k)
    contacts = []
    for k in range(max(1, evidence["pain_contacts"])):
        c = {"id": cid(k + 1), "name": "%s %s" % (rng.choice(FIRST), rng.choice(LAST)),
             "title": "Operations Lead", "roles": ["user_buyer"]}
        if evidence["pain"]:
            c["confirmed_pain"] = True
        if k == 0:
            c["is_primary"] = True
            if evidence["champion"]:
                c["roles"].append("champion")
                c["sentiment"] = "positive"
            c["last_met_at"] = ts(closed_at - timedelta(days=rng.randint(2, 30)))
        contacts.append(c)
    if evidence["eb_named"]:
        eb = {"id": cid(20), "name": "%s %s" % (rng.choice(FIRST), rng.choice(LAST)),
              "title": "Chief Operating Officer", "roles": ["economic_buyer"],
              "sentiment": rng.choice(["positive", "neutral", "negative"])}
        if evidence["eb_met"]:
            eb["last_met_at"] = ts(closed_at - timedelta(days=rng.randint(3, 40)))
        contacts.append(eb)
    if evidence["tech"] is not None:
        contacts.append({"id": cid(30), "name": "%s %s" % (rng.choice(FIRST), rng.choice(LAST)),
                         "title": "Head of IT", "roles": ["technical_buyer"]})
    activities = []
    for k in range(3):
        at = closed_at - timedelta(days=rng.randint(1, 45))
        activities.append({"id": "00TC%011d%02dAA" % (n, k), "type": rng.choice(["meeting", "call", "email"]),
                           "at": ts(at), "subject": "Customer touchpoint",
                           "participant_ids": [contacts[0]["id"]], "outcome": "completed"})
    activities.sort(key=lambda a: a["at"])
    artifacts = []
    if evidence["call_plan"]:
        artifacts.append({"kind": "call_plan", "title": "Call plan",
                          "url": "https://crm.example.com/docs/c%d/call-plan" % n,
                          "updated_at": ts(closed_at - timedelta(days=5))})
    if evidence["case_validated"] or rng.random() < 0.5:
        artifacts.append({"kind": "business_case", "title": "Business case",
                          "url": "https://crm.example.com/docs/c%d/business-case" % n,
                          "updated_at": ts(closed_at - timedelta(days=9)),
                          "customer_validated": evidence["case_validated"]})
    close_date = closed_at.replace(hour=0, minute=0, second=0)
    changes = []
    d = close_date - timedelta(days=30 * evidence["pushes"])
    for k in range(evidence["pushes"]):
        changes.append({"from_date": ts(d), "to_date": ts(d + timedelta(days=30)),
                        "changed_at": ts(start + timedelta(days=20 + 10 * k))})
        d += timedelta(days=30)
    fields = {"pain_statement": {"string_value": "Manual scheduling costs two FTEs a quarter"}}
    if evidence["decided"]:
        fields["decision_to_change"] = {"bool_value": True}
    if evidence["criteria"]:
        fields["decision_criteria"] = {"string_value": "Time to value, integration with the ERP"}
    if evidence["tech"] is not None:
        fields["technical_validation"] = {"bool_value": evidence["tech"]}
    return {
        "id": "006C%011dAAA" % n,
        "name": "%s - Closed deal %d" % (account, n),
        "account": {"id": "001C%011dAAA" % (i % len(ACCOUNTS) + 1), "name": account,
                    "industry": "Manufacturing", "employees": "2500", "segment": "mid-market"},
        "owner": {"id": rep[0], "name": rep[1], "manager_id": "005000000000001AAA",
                  "team": rep[2]},
        "stage": final,
        "stage_entered_at": ts(closed_at),
        "stage_history": history,
        "amount": float(rng.randint(20, 400) * 1000),
        "currency_code": "USD",
        "close_date": ts(close_date),
        "close_date_history": changes,
        "created_at": ts(start),
        "updated_at": ts(closed_at + timedelta(days=1)),
        "forecast_category": "closed",
        "is_closed": True,
        "is_won": won,
        "contacts": contacts,
        "activities": activities,
        "artifacts": artifacts,
        "fields": fields,
    }


deals = [deal(i) for i in range(120)]
with open("config/samples/closed-deals.json", "w") as f:
    json.dump(deals, f, indent=1)
    f.write("\n")
print("wrote %d closed deals (%d won)" % (len(deals), sum(d["is_won"] for d in deals)))
