// config/playbooks/customer-journey.yaml, translated by hand for the peers: every
// exit-gate criterion, behavior, risk and checklist condition, once as a
// json-rules-engine condition over prepared facts and once as a ZEN expression over the
// opportunity. Rule ids are the engine's ("awareness/community-pain", "behavior/...",
// "risk/...", "checklist/<list>/<item>").
//
// Unknown is not false in dealcoach: a condition on a field the CRM did not send does
// not hold. The translations keep that: `opp.fields.x == true` holds only for a recorded
// true, `opp.fields.s != ""` only for a recorded non-empty string, `!has(x)` only when x
// is absent.
//
// Preparation (per opportunity, excluded from the peers' headline time):
//   json-rules-engine cannot count inside collections, test membership inside nested
//   lists or do timestamp arithmetic, so prepareJre computes those facts
//   (pain_count, eb_met, hours_since_last_meeting, ...).
//   ZEN has collection functions (count, some) but no proto3-JSON timestamps, so
//   prepareZen converts every timestamp to epoch seconds and fills absent lists with [].
'use strict';

const H = 3600;

// ---- preparation ------------------------------------------------------------------------

const secs = (ts) => (ts === undefined || ts === null ? null : Date.parse(ts) / 1000);
const list = (x) => x || [];
const hasRole = (c, r) => list(c.roles).includes(r);

// The facts that read a presence-tracked contact field, in dealcoach's three-valued
// logic over the normalised opportunity (fired_rules --normalized-out): undefined
// (JRE) / null (ZEN) is "unknown", which neither holds nor fails. A field in
// `opp.not_recorded` (no contact carries it) reads as unknown even under has()
// (docs/expression-language.md, "Not recorded at all"); one absent from a single
// contact is has() = false there, and unknown where the YAML reads it unguarded.
function contactFacts(opp) {
  const contacts = list(opp.contacts);
  const nr = new Set(opp.not_recorded || []);
  const champ = contacts.filter((c) => hasRole(c, 'champion') || hasRole(c, 'coach'));
  const eb = contacts.filter((c) => hasRole(c, 'economic_buyer'));
  const painUnknown = nr.has('contacts.confirmed_pain');
  const sentimentUnknown = nr.has('contacts.sentiment');
  const metUnknown = nr.has('contacts.last_met_at');
  const positive = champ.some((c) => c.sentiment === 'positive');
  return {
    // filter(c, has(c.confirmed_pain) && c.confirmed_pain).size()
    pain_count: painUnknown ? undefined : contacts.filter((c) => c.confirmed_pain === true).length,
    // exists(c, champ && c.sentiment == "positive"): no guard, so a champion without a
    // sentiment makes it unknown unless another one is positive.
    champion_positive: positive ? true
      : champ.some((c) => c.sentiment === undefined) ? undefined : false,
    // exists(c, champ && (!has(c.sentiment) || c.sentiment == "positive"))
    champion_ok: sentimentUnknown && champ.length > 0 ? undefined
      : champ.some((c) => c.sentiment === undefined || c.sentiment === 'positive'),
    // exists(champ && !has(sentiment)) && !exists(champ && has(sentiment) && positive)
    champion_sentiment_missing: sentimentUnknown
      ? (champ.length > 0 ? undefined : false)
      : champ.some((c) => c.sentiment === undefined) && !positive,
    // exists(c, eb && has(c.last_met_at))
    economic_buyer_met: metUnknown && eb.length > 0 ? undefined
      : eb.some((c) => c.last_met_at !== undefined),
  };
}

function prepareJre(opp, nowMs) {
  const now = nowMs / 1000;
  const contacts = list(opp.contacts);
  const artifacts = list(opp.artifacts);
  const fields = opp.fields || {};
  const f = (name, kind) => (fields[name] ? fields[name][kind] : undefined);
  const eb = contacts.filter((c) => hasRole(c, 'economic_buyer'));
  const art = (kind, validated) =>
    artifacts.some((a) => a.kind === kind && (!validated || a.customer_validated === true));
  const lastMeeting = secs(opp.last_meeting_at);
  const goLive = secs(f('go_live_date', 'timestamp_value'));
  const closeDate = secs(opp.close_date);
  return {
    stage: opp.stage,
    contact_count: contacts.length,
    has_economic_buyer: eb.length > 0,
    economic_buyer_met_30d: eb.some((c) => c.last_met_at !== undefined && now - secs(c.last_met_at) < 720 * H),
    economic_buyer_negative: eb.some((c) => c.sentiment === 'negative'),
    has_technical_buyer: contacts.some((c) => hasRole(c, 'technical_buyer')),
    has_call_plan: art('call_plan', false),
    has_business_case: art('business_case', false),
    business_case_validated: art('business_case', true),
    has_mutual_action_plan: art('mutual_action_plan', false),
    mutual_action_plan_validated: art('mutual_action_plan', true),
    has_success_plan: art('success_plan', false),
    has_last_meeting: lastMeeting !== null,
    hours_since_last_meeting: lastMeeting === null ? undefined : (now - lastMeeting) / H,
    close_pushes: list(opp.close_date_history).filter((h) => secs(h.to_date) > secs(h.from_date)).length,
    close_date_passed: closeDate !== null && closeDate < now,
    is_won: opp.is_won,
    has_next_step: opp.next_step !== undefined,
    next_step: opp.next_step,
    has_decision_to_change: f('decision_to_change', 'bool_value') !== undefined,
    decision_to_change: f('decision_to_change', 'bool_value'),
    has_pain_statement: f('pain_statement', 'string_value') !== undefined,
    has_decision_criteria: f('decision_criteria', 'string_value') !== undefined,
    decision_criteria: f('decision_criteria', 'string_value'),
    technical_validation: f('technical_validation', 'bool_value'),
    has_paper_process: f('paper_process', 'string_value') !== undefined,
    paper_process: f('paper_process', 'string_value'),
    // Unknown (no go-live date) stays undefined: neither before nor after now.
    go_live_passed: goLive === null ? undefined : goLive < now,
    value_realized: f('value_realized', 'bool_value'),
    ...contactFacts(opp),
  };
}

// The opportunity as ZEN reads it: timestamps as epoch seconds, absent lists as [],
// custom fields unwrapped to plain values (null when not recorded).
function prepareZen(opp, nowMs) {
  const fields = {};
  for (const [k, v] of Object.entries(opp.fields || {})) {
    const kind = Object.keys(v)[0];
    fields[k] = kind === 'timestamp_value' ? secs(v[kind]) : v[kind];
  }
  return {
    now: nowMs / 1000,
    stage: opp.stage ?? null,
    is_won: opp.is_won ?? null,
    next_step: opp.next_step ?? null,
    close_date: secs(opp.close_date),
    last_meeting_at: secs(opp.last_meeting_at),
    contacts: list(opp.contacts).map((c) => ({
      roles: list(c.roles),
      confirmed_pain: c.confirmed_pain ?? null,
      sentiment: c.sentiment ?? null,
      last_met_at: secs(c.last_met_at),
    })),
    artifacts: list(opp.artifacts).map((a) => ({
      kind: a.kind,
      customer_validated: a.customer_validated ?? null,
    })),
    close_date_history: list(opp.close_date_history).map((h) => ({
      from_date: secs(h.from_date),
      to_date: secs(h.to_date),
    })),
    fields,
    // The contact facts in three-valued logic (contactFacts), null = unknown.
    derived: Object.fromEntries(Object.entries(contactFacts(opp)).map(([k, v]) => [k, v ?? null])),
  };
}

// ---- condition helpers (json-rules-engine) ---------------------------------------------

const is = (fact, value) => ({ fact, operator: 'equal', value });
const isnt = (fact, value) => ({ fact, operator: 'notEqual', value });
const gte = (fact, value) => ({ fact, operator: 'greaterThanInclusive', value });
const lt = (fact, value) => ({ fact, operator: 'lessThan', value });
const gt = (fact, value) => ({ fact, operator: 'greaterThan', value });
const lte = (fact, value) => ({ fact, operator: 'lessThanInclusive', value });
const all = (...c) => ({ all: c });
const any = (...c) => ({ any: c });

// ---- shared conditions ---------------------------------------------------------------

const EB = "'economic_buyer' in #.roles";
const C = {
  communityPain: { jre: all(gte('pain_count', 2)), zen: 'derived.pain_count != null and derived.pain_count >= 2' },
  decisionToChange: { jre: all(is('decision_to_change', true)), zen: 'fields.decision_to_change == true' },
  ebIdentified: { jre: all(is('has_economic_buyer', true)), zen: `some(contacts, ${EB})` },
  championPositive: {
    jre: all(is('champion_positive', true)),
    zen: 'derived.champion_positive == true',
  },
  ebMet: { jre: all(is('economic_buyer_met', true)), zen: 'derived.economic_buyer_met == true' },
  bcValidated: {
    jre: all(is('business_case_validated', true)),
    zen: "some(artifacts, #.kind == 'business_case' and #.customer_validated == true)",
  },
  mapValidated: {
    jre: all(is('mutual_action_plan_validated', true)),
    zen: "some(artifacts, #.kind == 'mutual_action_plan' and #.customer_validated == true)",
  },
  paperProcess: {
    jre: all(is('has_paper_process', true), isnt('paper_process', '')),
    zen: "fields.paper_process != null and fields.paper_process != ''",
  },
};
const not = (cond) => ({
  jre: { not: cond.jre },
  zen: `not (${cond.zen})`,
});

const LATE = ['Id. Decision Makers', 'Perception Analysis', 'Proposal/Price Quote', 'Negotiation/Review'];
const DECISION = ['Proposal/Price Quote', 'Negotiation/Review'];
const zenList = (xs) => `[${xs.map((x) => `'${x}'`).join(', ')}]`;

// ---- the rules, in playbook order ----------------------------------------------------

const PHASES = ['awareness', 'consideration', 'evaluation', 'decision', 'implementation'];

const RULES = [
  // awareness
  { id: 'awareness/community-pain', kind: 'criterion', ...C.communityPain },
  { id: 'awareness/decision-to-change', kind: 'criterion', ...C.decisionToChange },
  { id: 'awareness/identify-buying-center', kind: 'behavior', jre: all(is('contact_count', 0)),
    zen: 'len(contacts) == 0' },
  { id: 'awareness/multi-thread', kind: 'behavior', jre: all(gt('contact_count', 0), lt('pain_count', 2)),
    zen: 'len(contacts) > 0 and derived.pain_count != null and derived.pain_count < 2' },
  { id: 'awareness/record-decision-to-change', kind: 'behavior', jre: all(is('has_decision_to_change', false)),
    zen: 'fields.decision_to_change == null' },
  { id: 'awareness/test-decision-to-change', kind: 'behavior', jre: all(is('decision_to_change', false)),
    zen: 'fields.decision_to_change == false' },
  { id: 'awareness/capture-pain', kind: 'behavior', jre: all(is('has_pain_statement', false)),
    zen: 'fields.pain_statement == null' },
  { id: 'awareness/call-plan', kind: 'behavior', jre: all(is('has_call_plan', false)),
    zen: "not some(artifacts, #.kind == 'call_plan')" },
  // consideration
  { id: 'consideration/economic-buyer-identified', kind: 'criterion', ...C.ebIdentified },
  { id: 'consideration/champion', kind: 'criterion', ...C.championPositive },
  { id: 'consideration/decision-criteria', kind: 'criterion',
    jre: all(is('has_decision_criteria', true), isnt('decision_criteria', '')),
    zen: "fields.decision_criteria != null and fields.decision_criteria != ''" },
  { id: 'consideration/find-economic-buyer', kind: 'behavior', ...not(C.ebIdentified) },
  { id: 'consideration/develop-champion', kind: 'behavior', jre: all(is('champion_ok', false)),
    zen: 'derived.champion_ok == false' },
  { id: 'consideration/record-champion-sentiment', kind: 'behavior',
    jre: all(is('champion_sentiment_missing', true)), zen: 'derived.champion_sentiment_missing == true' },
  { id: 'consideration/capture-decision-criteria', kind: 'behavior',
    jre: any(is('has_decision_criteria', false), is('decision_criteria', '')),
    zen: "fields.decision_criteria == null or fields.decision_criteria == ''" },
  { id: 'consideration/draft-business-case', kind: 'behavior', jre: all(is('has_business_case', false)),
    zen: "not some(artifacts, #.kind == 'business_case')" },
  // evaluation
  { id: 'evaluation/economic-buyer-met', kind: 'criterion', ...C.ebMet },
  { id: 'evaluation/business-case-validated', kind: 'criterion', ...C.bcValidated },
  { id: 'evaluation/technical-validation', kind: 'criterion', jre: all(is('technical_validation', true)),
    zen: 'fields.technical_validation == true' },
  { id: 'evaluation/meet-economic-buyer', kind: 'behavior', jre: all(is('economic_buyer_met', false)),
    zen: 'derived.economic_buyer_met == false' },
  { id: 'evaluation/validate-business-case', kind: 'behavior', ...not(C.bcValidated) },
  { id: 'evaluation/engage-technical-buyer', kind: 'behavior', jre: all(is('has_technical_buyer', false)),
    zen: "not some(contacts, 'technical_buyer' in #.roles)" },
  { id: 'evaluation/run-technical-validation', kind: 'behavior', jre: all(isnt('technical_validation', true)),
    zen: 'fields.technical_validation != true' },
  // decision
  { id: 'decision/mutual-action-plan', kind: 'criterion', ...C.mapValidated },
  { id: 'decision/paper-process', kind: 'criterion', ...C.paperProcess },
  { id: 'decision/signed', kind: 'criterion', jre: all(is('is_won', true)), zen: 'is_won == true' },
  { id: 'decision/build-mutual-action-plan', kind: 'behavior', ...not(C.mapValidated) },
  { id: 'decision/confirm-paper-process', kind: 'behavior',
    jre: any(is('has_paper_process', false), is('paper_process', '')),
    zen: "fields.paper_process == null or fields.paper_process == ''" },
  { id: 'decision/re-engage-economic-buyer', kind: 'behavior', jre: all(is('economic_buyer_met_30d', false)),
    zen: `not some(contacts, ${EB} and #.last_met_at != null and now - #.last_met_at < ${720 * H})` },
  { id: 'decision/drive-to-signature', kind: 'behavior',
    jre: all(is('mutual_action_plan_validated', true), is('has_paper_process', true), isnt('paper_process', '')),
    zen: `(${C.mapValidated.zen}) and (${C.paperProcess.zen})` },
  // implementation
  { id: 'implementation/go-live', kind: 'criterion', jre: all(is('go_live_passed', true)),
    zen: 'fields.go_live_date != null and fields.go_live_date < now' },
  { id: 'implementation/value-confirmed', kind: 'criterion', jre: all(is('value_realized', true)),
    zen: 'fields.value_realized == true' },
  { id: 'implementation/success-plan', kind: 'behavior', jre: all(is('has_success_plan', false)),
    zen: "not some(artifacts, #.kind == 'success_plan')" },
  { id: 'implementation/value-review', kind: 'behavior', jre: all(isnt('value_realized', true)),
    zen: 'fields.value_realized != true' },
  // global behaviors
  { id: 'behavior/book-next-meeting', kind: 'global', phases: ['awareness', 'consideration', 'evaluation', 'decision'],
    jre: any(is('has_last_meeting', false), gt('hours_since_last_meeting', 336)),
    zen: `last_meeting_at == null or now - last_meeting_at > ${336 * H}` },
  { id: 'behavior/update-next-step', kind: 'global', phases: ['awareness', 'consideration', 'evaluation', 'decision'],
    jre: any(is('has_next_step', false), is('next_step', '')),
    zen: "next_step == null or next_step == ''" },
  { id: 'behavior/reconfirm-close-date', kind: 'global', phases: ['evaluation', 'decision'],
    jre: all(gte('close_pushes', 1)),
    zen: 'some(close_date_history, #.to_date > #.from_date)' },
  // risks
  { id: 'risk/stalled', kind: 'risk', jre: any(is('has_last_meeting', false), gt('hours_since_last_meeting', 504)),
    zen: `last_meeting_at == null or now - last_meeting_at > ${504 * H}` },
  { id: 'risk/close-date-pushed', kind: 'risk', jre: all(gte('close_pushes', 2)),
    zen: 'count(close_date_history, #.to_date > #.from_date) >= 2' },
  { id: 'risk/single-threaded', kind: 'risk', jre: all(is('contact_count', 1)), zen: 'len(contacts) == 1' },
  { id: 'risk/no-economic-buyer-late', kind: 'risk',
    jre: all({ fact: 'stage', operator: 'in', value: LATE }, is('economic_buyer_met', false)),
    zen: `stage in ${zenList(LATE)} and derived.economic_buyer_met == false` },
  { id: 'risk/no-mutual-action-plan', kind: 'risk',
    jre: all({ fact: 'stage', operator: 'in', value: DECISION }, is('has_mutual_action_plan', false)),
    zen: `stage in ${zenList(DECISION)} and not some(artifacts, #.kind == 'mutual_action_plan')` },
  { id: 'risk/economic-buyer-negative', kind: 'risk', jre: all(is('economic_buyer_negative', true)),
    zen: `some(contacts, ${EB} and #.sentiment == 'negative')` },
  { id: 'risk/close-date-passed', kind: 'risk', jre: all(is('close_date_passed', true)),
    zen: 'close_date != null and close_date < now' },
  // checklists
  { id: 'checklist/opportunity_review/community-pain', kind: 'checklist', ...C.communityPain },
  { id: 'checklist/opportunity_review/decision-to-change', kind: 'checklist', ...C.decisionToChange },
  { id: 'checklist/opportunity_review/economic-buyer-engaged', kind: 'checklist', ...C.ebMet },
  { id: 'checklist/opportunity_review/champion', kind: 'checklist', ...C.championPositive },
  { id: 'checklist/opportunity_review/recent-meeting', kind: 'checklist',
    jre: all(is('has_last_meeting', true), lte('hours_since_last_meeting', 504)),
    zen: `last_meeting_at != null and now - last_meeting_at <= ${504 * H}` },
  { id: 'checklist/opportunity_review/close-date-credible', kind: 'checklist', jre: all(lt('close_pushes', 2)),
    zen: 'count(close_date_history, #.to_date > #.from_date) < 2' },
  { id: 'checklist/opportunity_review/next-step', kind: 'checklist',
    jre: all(is('has_next_step', true), isnt('next_step', '')),
    zen: "next_step != null and next_step != ''" },
  { id: 'checklist/forecast_call/mutual-action-plan', kind: 'checklist', ...C.mapValidated },
  { id: 'checklist/forecast_call/paper-process', kind: 'checklist', ...C.paperProcess },
  { id: 'checklist/forecast_call/economic-buyer-engaged', kind: 'checklist', ...C.ebMet },
].map((r, i) => ({ ...r, key: `r${i}`, phase: r.kind === 'criterion' || r.kind === 'behavior' ? r.id.split('/')[0] : undefined }));

// The engine's selection over raw condition results (sidecar/engine/evaluate.cc): gates
// in phase order up to the first not fully met (criteria that hold are reported), the
// evidence phase's behaviors and the global behaviors that apply to it, every risk that
// holds, every checklist item that holds; closed deals get no risks, closed-lost deals
// no behaviors either.
function selectFired(raw, opp) {
  const fired = new Set();
  let evidence = PHASES.length - 1;
  for (let p = 0; p < PHASES.length; p++) {
    const criteria = RULES.filter((r) => r.kind === 'criterion' && r.phase === PHASES[p]);
    let met = true;
    for (const r of criteria) {
      if (raw.has(r.id)) fired.add(r.id);
      else met = false;
    }
    if (!met) {
      evidence = p;
      break;
    }
  }
  for (const r of RULES) if (r.kind === 'checklist' && raw.has(r.id)) fired.add(r.id);
  const closed = opp.is_closed === true;
  if (closed && opp.is_won !== true) return fired;
  for (const r of RULES) {
    if (!raw.has(r.id)) continue;
    if (r.kind === 'behavior' && r.phase === PHASES[evidence]) fired.add(r.id);
    if (r.kind === 'global' && r.phases.includes(PHASES[evidence])) fired.add(r.id);
    if (r.kind === 'risk' && !closed) fired.add(r.id);
  }
  return fired;
}

module.exports = { RULES, PHASES, prepareJre, prepareZen, selectFired };
