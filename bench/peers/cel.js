// The CEL peers: a shipped playbook's own conditions, the `when:` text exactly as the
// YAML has it, compiled once by a general-purpose CEL evaluator a user could embed
// instead of dealcoach (@marcbachmann/cel-js, @bufbuild/cel), and evaluated on the same
// generated opportunities. The playbook language is CEL-shaped (docs/expression-language.md),
// so no translation is needed; what a CEL library lacks is dealcoach's data model:
//
//   * timestamps: proto3 JSON gives RFC 3339 strings; CEL needs timestamp values (a JS
//     Date for cel-js, a google.protobuf.Timestamp message for @bufbuild/cel);
//   * custom fields: `opp.fields.x` is the field's value in the playbook language (the
//     FieldValue oneof unwrapped);
//   * absent repeated fields: proto3 JSON omits empty lists; the message model has them
//     empty, so they are filled with [] (`opp.contacts.size()` on a deal without contacts).
//
// That conversion is the per-opportunity preparation, timed apart, as for the other
// peers. Unknown is not false in dealcoach: a condition reading a field the CRM did not
// send does not hold. In CEL such a read is an error ("no such key"), which CEL's
// commutative && and || absorb where the other side decides, exactly as dealcoach's
// three-valued logic does; an error left at the top means "does not hold" here.
//
// Not recorded (docs/expression-language.md, "Not recorded at all"): a presence-tracked
// field of a list element that no element of a non-empty list carries, or a list the
// connector names in `not_recorded`, reads as unknown in dealcoach, also under has().
// The preparation computes that set as engine::NormalizeOpportunityAsOf does
// (notRecorded) and hands it to the condition as the variable `nr`; at compile time
// every `has(x.f)` over a list element (x not `opp`, f a presence-tracked element field)
// becomes `(nr.l_f ? x.f == x.f : has(x.f))`: when the field is not recorded no element
// has it, so `x.f == x.f` is CEL's "no such key" error, which is unknown here as in
// dealcoach; otherwise has() as written. A not-recorded list is left out of the value,
// so reading it is the same error.
//
// Rule ids are the engine's: "<phase>/<id>" for gate criteria and phase behaviors,
// "behavior/<id>", "risk/<id>", "checklist/<list>/<id>".
'use strict';

const fs = require('fs');
const path = require('path');
const YAML = require('yaml');

// Every Timestamp field of dealcoach.v1.Opportunity and its nested messages
// (proto/dealcoach/v1/opportunity.proto), and the repeated fields.
const TIMESTAMP_FIELDS = new Set([
  'stage_entered_at', 'close_date', 'created_at', 'updated_at', 'last_meeting_at',
  'last_activity_at', 'entered_at', 'from_date', 'to_date', 'changed_at', 'last_met_at', 'at',
]);
const INT64_FIELDS = new Set(['employees']);
// Presence-tracked fields of each list's element (proto3 `optional` and message fields
// of dealcoach.v1.Contact, Activity, Artifact, Competitor, StageChange, CloseDateChange).
const PRESENCE = {
  contacts: ['title', 'confirmed_pain', 'sentiment', 'last_met_at', 'is_primary'],
  activities: ['at', 'outcome'],
  artifacts: ['updated_at', 'customer_validated'],
  competitors: ['status'],
  stage_history: ['entered_at'],
  close_date_history: ['from_date', 'to_date', 'changed_at'],
};
// Element field -> its list (the names are unique across lists but for none that a
// has() in the shipped playbooks reads on two lists).
const LIST_OF_FIELD = {};
for (const [l, fs] of Object.entries(PRESENCE)) for (const f of fs) LIST_OF_FIELD[f] ??= l;

// "contacts.confirmed_pain", ... for this proto3-JSON opportunity: the engine's
// SummarizePresence (sidecar/engine/normalize.cc) plus what the connector sent.
function notRecorded(opp) {
  const out = new Set(opp.not_recorded || []);
  const participants = (opp.activities || []).some((a) => (a.participant_ids || []).length > 0);
  for (const [l, fs] of Object.entries(PRESENCE)) {
    const xs = opp[l] || [];
    if (xs.length === 0) continue;
    for (const f of fs) {
      let carried = xs.some((e) => e[f] !== undefined && e[f] !== null);
      if (l === 'contacts' && f === 'last_met_at' && participants) carried = true;
      if (!carried) out.add(`${l}.${f}`);
    }
  }
  return out;
}

// The `nr` variable: one bool per presence-tracked element field.
function nrValue(set) {
  const nr = {};
  for (const [l, fs] of Object.entries(PRESENCE)) for (const f of fs) nr[`${l}_${f}`] = set.has(`${l}.${f}`);
  return nr;
}

// has(x.f) over a list element -> (nr.l_f ? x.f == x.f : has(x.f)); see the top.
function withNotRecorded(when) {
  return when.replace(/has\(\s*([A-Za-z_]\w*)\.([A-Za-z_]\w*)\s*\)/g, (m, x, f) =>
    x === 'opp' || LIST_OF_FIELD[f] === undefined
      ? m
      : `(nr.${LIST_OF_FIELD[f]}_${f} ? ${x}.${f} == ${x}.${f} : ${m})`);
}
const LISTS = {
  opp: ['contacts', 'activities', 'artifacts', 'competitors', 'stage_history', 'close_date_history'],
  contacts: ['roles'],
};

// The rules of one playbook, in the order the playbook lists them.
function loadPlaybookRules(path) {
  const pb = YAML.parse(fs.readFileSync(path, 'utf8'));
  const rules = [];
  const phases = (pb.phases || []).map((p) => p.id);
  const cond = (r) => (r.when === undefined ? 'true' : String(r.when));
  for (const p of pb.phases || []) {
    for (const c of p.exit_gate || []) {
      rules.push({ id: `${p.id}/${c.id}`, kind: 'criterion', phase: p.id, when: cond(c) });
    }
    for (const b of p.behaviors || []) {
      rules.push({ id: `${p.id}/${b.id}`, kind: 'behavior', phase: p.id, when: cond(b) });
    }
  }
  for (const b of pb.behaviors || []) {
    rules.push({ id: `behavior/${b.id}`, kind: 'global', phases: b.phases || phases, when: cond(b) });
  }
  for (const r of pb.risks || []) rules.push({ id: `risk/${r.id}`, kind: 'risk', when: cond(r) });
  for (const [name, items] of Object.entries(pb.checklists || {})) {
    for (const it of items) {
      rules.push({ id: `checklist/${name}/${it.id}`, kind: 'checklist', when: cond(it) });
    }
  }
  // `phase` in conditions: the phase the deal's CRM stage claims through crm_stages
  // (lower-cased, trimmed, as the loader keys it), "" when none does.
  const stageToPhase = {};
  for (const p of pb.phases || []) {
    for (const st of p.crm_stages || []) stageToPhase[String(st).trim().toLowerCase()] = p.id;
  }
  return { name: pb.metadata.name, phases, rules, stageToPhase };
}

// The `phase` variable of the engine's activation (evaluate.cc, EvalState).
function claimedPhase(playbook, opp) {
  if (typeof opp.stage !== 'string') return '';
  return playbook.stageToPhase[opp.stage.trim().toLowerCase()] || '';
}

// The engine's selection over raw condition results (sidecar/engine/evaluate.cc), as in
// rules.js: gates in phase order up to the first not fully met (criteria that hold are
// reported), the evidence phase's behaviors and the global behaviors that apply to it,
// every risk that holds, every checklist item that holds; closed deals get no risks,
// closed-lost deals no behaviors either.
function selectFired(playbook, raw, opp) {
  const { phases, rules } = playbook;
  const fired = new Set();
  let evidence = phases.length - 1;
  for (let p = 0; p < phases.length; p++) {
    let met = true;
    for (const r of rules) {
      if (r.kind !== 'criterion' || r.phase !== phases[p]) continue;
      if (raw.has(r.id)) fired.add(r.id);
      else met = false;
    }
    if (!met) {
      evidence = p;
      break;
    }
  }
  for (const r of rules) if (r.kind === 'checklist' && raw.has(r.id)) fired.add(r.id);
  const closed = opp.is_closed === true;
  if (closed && opp.is_won !== true) return fired;
  for (const r of rules) {
    if (!raw.has(r.id)) continue;
    if (r.kind === 'behavior' && r.phase === phases[evidence]) fired.add(r.id);
    if (r.kind === 'global' && r.phases.includes(phases[evidence])) fired.add(r.id);
    if (r.kind === 'risk' && !closed) fired.add(r.id);
  }
  return fired;
}

// proto3 JSON -> the value model a CEL library evaluates: `ts` converts an RFC 3339
// string to the library's timestamp.
function celValue(opp, ts) {
  const convert = (obj, lists) => {
    const out = {};
    for (const [k, v] of Object.entries(obj)) {
      if (TIMESTAMP_FIELDS.has(k) && typeof v === 'string') out[k] = ts(v);
      else if (INT64_FIELDS.has(k)) out[k] = BigInt(v);
      else if (Array.isArray(v)) {
        out[k] = v.map((e) => (e !== null && typeof e === 'object' ? convert(e, LISTS[k]) : e));
      } else if (v !== null && typeof v === 'object' && k !== 'fields') out[k] = convert(v);
      else out[k] = v;
    }
    for (const l of lists || []) if (out[l] === undefined) out[l] = [];
    return out;
  };
  const value = convert(opp, LISTS.opp);
  for (const l of opp.not_recorded || []) if (LISTS.opp.includes(l)) delete value[l];
  const fields = {};
  for (const [k, v] of Object.entries(opp.fields || {})) {
    const kind = Object.keys(v)[0];
    const x = v[kind];
    if (kind === 'timestamp_value') fields[k] = ts(x);
    else if (kind === 'int_value') fields[k] = BigInt(x);
    else fields[k] = x;
  }
  value.fields = fields;
  return value;
}

// Plain objects to Maps, recursively; messages (timestamps) stay as they are.
function asMaps(v) {
  if (Array.isArray(v)) return v.map(asMaps);
  if (v === null || typeof v !== 'object' || v.$typeName !== undefined || v instanceof Date) return v;
  return new Map(Object.entries(v).map(([k, x]) => [k, asMaps(x)]));
}

// Rules grouped by condition text: a condition that guards a gate criterion, a
// behavior and a checklist item is compiled and evaluated once per deal, as dealcoach
// evaluates it once (CompiledPlaybookImpl::conditions_), and holds for all their ids.
function distinctConditions(rules) {
  const byWhen = new Map();
  for (const r of rules) {
    if (!byWhen.has(r.when)) byWhen.set(r.when, { when: r.when, ids: [] });
    byWhen.get(r.when).ids.push(r.id);
  }
  return [...byWhen.values()];
}

// Both libraries, loaded once (cel-js is an ES module). Each peer: compile every
// distinct condition once, prepare one opportunity, evaluate each on it into the set of
// rules that hold.
async function celPeers(playbook) {
  const celjs = await import('@marcbachmann/cel-js');
  const buf = await import('@bufbuild/cel');
  const { timestampFromMs } = await import('@bufbuild/protobuf/wkt');
  // Read directly: not every package exports its package.json.
  const version = (pkg) =>
    JSON.parse(fs.readFileSync(path.join(__dirname, 'node_modules', pkg, 'package.json'), 'utf8'))
      .version;
  return {
    'cel-js': {
      version: version('@marcbachmann/cel-js'),
      sync: true,
      make() {
        return distinctConditions(playbook.rules).map((c) => ({
          ids: c.ids,
          fn: celjs.parse(withNotRecorded(c.when)),
        }));
      },
      input: (opp, nowMs) => ({
        opp: celValue(opp, (s) => new Date(s)),
        now: new Date(nowMs),
        phase: claimedPhase(playbook, opp),
        nr: nrValue(notRecorded(opp)),
      }),
      evaluate(compiled, input) {
        const fired = new Set();
        for (const r of compiled) {
          let v;
          try {
            v = r.fn(input);
          } catch {
            continue;  // an error: the condition does not hold
          }
          if (v === true) for (const id of r.ids) fired.add(id);
        }
        return fired;
      },
    },
    'bufbuild-cel': {
      version: version('@bufbuild/cel'),
      sync: true,
      make() {
        const env = buf.celEnv();
        return distinctConditions(playbook.rules).map((c) => ({
          ids: c.ids,
          fn: buf.plan(env, buf.parse(withNotRecorded(c.when))),
        }));
      },
      // Objects as JS Maps: @bufbuild/cel reads a Map 1.5-3x faster than a plain object
      // (measured on single conditions), the favourable input for the peer.
      input: (opp, nowMs) => ({
        opp: asMaps(celValue(opp, (s) => timestampFromMs(Date.parse(s)))),
        now: timestampFromMs(nowMs),
        phase: claimedPhase(playbook, opp),
        nr: asMaps(nrValue(notRecorded(opp))),
      }),
      evaluate(compiled, input) {
        const fired = new Set();
        // plan() functions return a CelError value instead of throwing.
        for (const r of compiled) if (r.fn(input) === true) for (const id of r.ids) fired.add(id);
        return fired;
      },
    },
  };
}

module.exports = {
  loadPlaybookRules,
  selectFired,
  celValue,
  celPeers,
  notRecorded,
  withNotRecorded,
  distinctConditions,
};
