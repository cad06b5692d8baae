#!/usr/bin/env node
// Side-by-side peers on the opportunities gen_opportunities dumped, so dealcoach and the
// peers see identical data: the customer-journey playbook's conditions translated by hand
// (rules.js) for json-rules-engine and GoRules ZEN, and the playbook's own CEL conditions,
// read from its YAML (cel.js), for the CEL evaluators @marcbachmann/cel-js and
// @bufbuild/cel.
//
//   node run.js --opportunities opps.json [--fired fired.json] [--seconds S]
//               [--warmup N] [--sample N] [--out result.json]
//               [--playbook FILE] [--peers name,name,...]
// (--warmup N: how many opportunities the time-based warm-up cycles over; --playbook:
// the playbook the CEL peers read, default customer-journey; --peers: run only these,
// e.g. `cel-js,bufbuild-cel` for another playbook, which rules.js does not translate)
//
// Timing is single-threaded and sequential (one evaluation awaited before the next),
// after a warm-up, repeated over the data set until --seconds have passed. Each peer is
// timed twice: evaluation alone on facts prepared beforehand (the favourable figure the
// comparison uses: the preparation step computes what the peer cannot express, such as
// collection counts and timestamp arithmetic; the best of two passes, or of the pass
// with preparation if noise made that one faster) and preparation + evaluation.
//
// Equivalence: for the first --sample opportunities the set of rules each peer fires,
// after the same phase selection the engine applies (rules.js selectFired), must equal
// dealcoach's set in fired.json (from the fired_rules tool). Mismatches are reported.
'use strict';

const fs = require('fs');
const os = require('os');
const { Engine } = require('json-rules-engine');
const { ZenEngine } = require('@gorules/zen-engine');
const path = require('path');
const rules = require('./rules');
const cel = require('./cel');

function parseArgs(argv) {
  const o = { seconds: 3, warmup: 500, sample: 500 };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`missing value for ${argv[i]}`);
    o[k] = ['seconds', 'warmup', 'sample'].includes(k) ? Number(v) : v;
  }
  o.playbook = o.playbook || path.join(__dirname, '../../config/playbooks/customer-journey.yaml');
  if (!o.opportunities) throw new Error('usage: run.js --opportunities FILE [--fired FILE] ...');
  return o;
}

// The hand translations grouped by condition (the same condition guarding a criterion,
// a behavior and a checklist item is one rule / expression), evaluated once per deal as
// dealcoach and the CEL peers evaluate each distinct condition once.
function distinctBy(text) {
  const groups = new Map();
  for (const r of rules.RULES) {
    const k = text(r);
    if (!groups.has(k)) groups.set(k, { key: `d${groups.size}`, r, ids: [] });
    groups.get(k).ids.push(r.id);
  }
  return [...groups.values()];
}
const JRE_GROUPS = distinctBy((r) => JSON.stringify(r.jre));
const ZEN_GROUPS = distinctBy((r) => r.zen);

function jreEngine() {
  const engine = new Engine([], { allowUndefinedFacts: true });
  for (const g of JRE_GROUPS) {
    engine.addRule({ name: g.key, conditions: g.r.jre, event: { type: g.key } });
  }
  return engine;
}
const JRE_IDS = new Map(JRE_GROUPS.map((g) => [g.key, g.ids]));

function zenDecision() {
  const zen = new ZenEngine();
  // One expression node computing every condition: the cheapest ZEN graph for the job.
  const expressions = ZEN_GROUPS.map((g, i) => ({ id: `e${i}`, key: g.key, value: g.r.zen }));
  const graph = {
    nodes: [
      { id: 'in', type: 'inputNode', name: 'in', content: {} },
      { id: 'expr', type: 'expressionNode', name: 'rules', content: { expressions } },
      { id: 'out', type: 'outputNode', name: 'out', content: {} },
    ],
    edges: [
      { id: 'e1', sourceId: 'in', targetId: 'expr' },
      { id: 'e2', sourceId: 'expr', targetId: 'out' },
    ],
  };
  return zen.createDecision(graph);
}

const handPeers = {
  'json-rules-engine': {
    version: require('json-rules-engine/package.json').version,
    rules: rules.RULES.length,
    distinct: JRE_GROUPS.length,
    select: rules.selectFired,
    make: jreEngine,
    input: (opp, now) => rules.prepareJre(opp, now),
    async evaluate(engine, facts) {
      const { events } = await engine.run(facts);
      const fired = new Set();
      for (const e of events) for (const id of JRE_IDS.get(e.type)) fired.add(id);
      return fired;
    },
  },
  'zen-engine': {
    version: require('@gorules/zen-engine/package.json').version,
    rules: rules.RULES.length,
    distinct: ZEN_GROUPS.length,
    select: rules.selectFired,
    make: zenDecision,
    input: (opp, now) => rules.prepareZen(opp, now),
    async evaluate(decision, input) {
      const { result } = await decision.evaluate(input);
      const fired = new Set();
      for (const g of ZEN_GROUPS) if (result[g.key] === true) for (const id of g.ids) fired.add(id);
      return fired;
    },
  },
};

// Bounded by time and by count (100 passes over the data at most). A synchronous peer
// is called without `await` (an await costs a microtask turn the peer does not need).
async function timeLoop(seconds, n, body, sync) {
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  let count = 0;
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let pass = 0; pass < 100 && process.hrtime.bigint() < deadline; pass++) {
    for (let i = 0; i < n; i++) {
      const r = sync ? body(i) : await body(i);
      sink += r.size;
      count++;
    }
  }
  const ns = Number(process.hrtime.bigint() - start);
  if (sink < 0) throw new Error('impossible');
  return { count, ns_per_op: ns / count };
}

async function main() {
  const o = parseArgs(process.argv);
  const doc = JSON.parse(fs.readFileSync(o.opportunities, 'utf8'));
  const now = Date.parse(doc.now);
  const opps = doc.opportunities;
  const expected = o.fired ? JSON.parse(fs.readFileSync(o.fired, 'utf8')).fired : null;
  const playbook = cel.loadPlaybookRules(o.playbook);
  const celPeers = await cel.celPeers(playbook);
  for (const p of Object.values(celPeers)) {
    p.rules = playbook.rules.length;
    p.distinct = cel.distinctConditions(playbook.rules).length;
    p.select = (raw, opp) => cel.selectFired(playbook, raw, opp);
  }
  const all = { ...handPeers, ...celPeers };
  const wanted = o.peers ? o.peers.split(',') : Object.keys(all);
  for (const w of wanted) if (!all[w]) throw new Error(`unknown peer '${w}'`);
  const out = {
    node: process.version,
    opportunities: opps.length,
    rules: rules.RULES.length,
    playbook: playbook.name,
    playbook_rules: playbook.rules.length,
    seconds_per_measurement: o.seconds,
    peers: {},
  };
  for (const name of wanted) {
    const peer = all[name];
    const engine = peer.make();
    const prepStart = process.hrtime.bigint();
    const inputs = opps.map((opp) => peer.input(opp, now));
    const prepNs = Number(process.hrtime.bigint() - prepStart) / opps.length;

    // Equivalence on a sample.
    let mismatches = 0;
    const examples = [];
    const sample = Math.min(o.sample, opps.length);
    if (expected) {
      for (let i = 0; i < sample; i++) {
        const raw = await peer.evaluate(engine, inputs[i]);
        const got = peer.select(raw, opps[i]);
        const want = new Set(expected[opps[i].id] || []);
        const missing = [...want].filter((x) => !got.has(x));
        const extra = [...got].filter((x) => !want.has(x));
        if (missing.length || extra.length) {
          mismatches++;
          if (examples.length < 5) examples.push({ id: opps[i].id, missing, extra });
        }
      }
    }
    // Warm-up (time-based: the JIT needs more than a few hundred calls), then the
    // timings; evaluation alone is measured before and after the run with preparation
    // and the better of the two is kept (favourable to the peer).
    const sync = peer.sync === true;
    const warm = await timeLoop(o.seconds / 2, Math.min(o.warmup, opps.length),
      (i) => peer.evaluate(engine, inputs[i]), sync);
    const first = await timeLoop(o.seconds, opps.length, (i) => peer.evaluate(engine, inputs[i]),
      sync);
    const withPrep = await timeLoop(o.seconds, opps.length, (i) =>
      peer.evaluate(engine, peer.input(opps[i], now)), sync);
    const second = await timeLoop(o.seconds, opps.length, (i) => peer.evaluate(engine, inputs[i]),
      sync);
    // On a noisy machine even preparation + evaluation can come out faster than one of
    // the evaluation-only passes; it is an upper bound on evaluation alone, so the
    // favourable figure is the best of all three.
    const evalOnly = [first, second, withPrep].reduce((a, b) => (b.ns_per_op < a.ns_per_op ? b : a));
    void warm;
    out.peers[name] = {
      version: peer.version,
      // Conditions evaluated per opportunity (every one, no gate short-cut).
      conditions: peer.rules,
      // Of which distinct (each evaluated once per deal).
      distinct_conditions: peer.distinct,
      ns_per_opportunity: evalOnly.ns_per_op,
      ns_per_condition: evalOnly.ns_per_op / peer.rules,
      ns_per_opportunity_with_prep: withPrep.ns_per_op,
      prep_ns_per_opportunity: prepNs,
      evaluations: evalOnly.count,
      equivalence: expected
        ? { sample, mismatches, examples }
        : { sample: 0, mismatches: null, note: 'no --fired file given' },
    };
    process.stderr.write(
      `peers: ${name}: ${(evalOnly.ns_per_op / 1000).toFixed(1)} us/opp ` +
        `(${(withPrep.ns_per_op / 1000).toFixed(1)} with prep), ` +
        `${expected ? mismatches + '/' + sample + ' mismatches' : 'no equivalence check'}\n`);
  }
  out.cpus = os.cpus().length;
  const text = JSON.stringify(out, null, 2) + '\n';
  if (o.out) fs.writeFileSync(o.out, text);
  else process.stdout.write(text);
}

main().catch((e) => {
  process.stderr.write(`peers: ${e.stack || e}\n`);
  process.exit(1);
});
