#!/usr/bin/env node
// Turns the raw outputs of one scripts/bench.sh run into bench/results/latest.json (every
// figure, every ratio, every goal) and a readable table; optionally rewrites the results
// table in docs/performance.md (between the results:begin / results:end markers).
//
//   node report.js --work DIR --out FILE --mode full|smoke [--docs docs/performance.md]
//   node report.js --from bench/results/latest.json --docs docs/performance.md
//
// Every ratio divides two figures measured in the same run.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { execSync } = require('child_process');

function args() {
  const o = {};
  for (let i = 2; i < process.argv.length; i += 2) o[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
  return o;
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return null;
  }
}

function machine() {
  const cpuinfo = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = (cpuinfo.match(/^model name\s*:\s*(.*)$/m) || [])[1] || os.cpus()[0]?.model || '';
  let commit = '';
  try {
    commit = execSync('git rev-parse --short HEAD', { cwd: __dirname, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString().trim();
  } catch (e) { /* not a checkout */ }
  return {
    nproc: os.cpus().length,
    cpu_model: model.trim(),
    memory_bytes: os.totalmem(),
    loadavg_at_end: os.loadavg().map((x) => Math.round(x * 100) / 100),
    kernel: os.release(),
    node: process.version,
    commit,
    date: new Date().toISOString(),
  };
}

// Google Benchmark JSON -> {name: ns per iteration}.
function engineFigures(gb) {
  const ns = {};
  const errors = {};
  if (!gb) return { ns, errors };
  const unit = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 };
  for (const b of gb.benchmarks || []) {
    if (b.error_occurred) {
      errors[b.name] = b.error_message;
      continue;
    }
    if (b.run_type && b.run_type !== 'iteration') continue;
    // CPU time: these benchmarks are single-threaded, and on a shared machine the CPU
    // time of the benchmark thread is far steadier than wall time.
    ns[b.name] = b.cpu_time * (unit[b.time_unit] || 1);
  }
  return { ns, errors };
}

// The spread of n per-round ratios and a distribution-free confidence interval for their
// median: with the ratios sorted, [x_(j), x_(n+1-j)] covers the true median with
// probability 1 - 2 P(Bin(n, 1/2) < j) (order statistics; no assumption on the
// distribution of a round's ratio). j is the largest with confidence >= 90% (n = 5:
// min..max, 93.75%).
function ratioStats(ratios) {
  const v = [...ratios].sort((a, b) => a - b);
  const n = v.length;
  if (!n) return { rounds: 0, ratios: [], median: null };
  const mid = Math.floor(n / 2);
  const median = n % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  const binomCdfBelow = (j) => {  // P(Bin(n, 1/2) < j)
    let c = 0;
    let term = 1;  // C(n, 0)
    for (let k = 0; k < j; k++) {
      c += term;
      term = (term * (n - k)) / (k + 1);
    }
    return c / 2 ** n;
  };
  let ci = null;
  for (let j = Math.floor(n / 2); j >= 1; j--) {
    const conf = 1 - 2 * binomCdfBelow(j);
    if (conf >= 0.9) {
      ci = { low: v[j - 1], high: v[n - j], confidence: conf };
      break;
    }
  }
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { rounds: n, ratios, median, min: v[0], max: v[n - 1], mean, sd, median_ci: ci };
}

// Slope between consecutive points, and the growth exponent between the two largest
// sizes, k = log(t2/t1) / log(n2/n1): 1 is linear, below 1 better (a fixed cost still
// dominates), 2 quadratic. "Linear or better" when k <= 1.1 (noise allowance).
function slopes(points) {
  if (points.length < 2) return null;
  const seg = [];
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    seg.push({ from: x0, to: x1, ns_per_unit: (y1 - y0) / (x1 - x0) });
  }
  const [a, b] = points.slice(-2);
  const exponent = Math.log(b[1] / a[1]) / Math.log(b[0] / a[0]);
  const first = points[0];
  const last = points[points.length - 1];
  return {
    points: points.map(([x, y]) => ({ n: x, ns: y })),
    segments: seg,
    ns_per_unit: (last[1] - first[1]) / (last[0] - first[0]),
    growth_exponent: exponent,
    linear_or_better: exponent <= 1.1,
  };
}

// dealcoach (fired_rules --bench-seconds) against the node peers on the same file. Per
// deal: every condition of the playbook for one opportunity (dealcoach builds the full
// answer, guidance plus every checklist); per condition: that divided by the number of
// conditions in the playbook.
function peerFigures(fired, peers) {
  if (!fired || !fired.timing) return null;
  const dc = fired.timing.evaluate_with_checklists.ns_per_opportunity;
  const conditions = peers?.playbook_rules ?? null;
  const r = {
    playbook: fired.playbook,
    opportunities: Object.keys(fired.fired).length,
    conditions,
    dealcoach_ns_per_opportunity: dc,
    dealcoach_ns_per_condition: conditions ? dc / conditions : null,
    dealcoach_evaluate_only_ns_per_opportunity: fired.timing.evaluate.ns_per_opportunity,
    // Every condition of the playbook alone, no answer built (fired_rules
    // "conditions_only"): the CEL peers' own work, for the split of the full answer.
    dealcoach_conditions_only_ns_per_opportunity: fired.timing.conditions_only?.ns_per_opportunity ?? null,
    // Separate heap-allocated Evaluate / EvaluateChecklist calls.
    dealcoach_separate_heap_ns_per_opportunity:
      fired.timing.evaluate_with_checklists_heap?.ns_per_opportunity ?? null,
    peers: peers ? peers.peers : null,
    ratios: {},
  };
  for (const [name, p] of Object.entries(peers?.peers || {})) {
    const heap = r.dealcoach_separate_heap_ns_per_opportunity;
    r.ratios[name] = {
      vs_eval_only: p.ns_per_opportunity / dc,
      vs_eval_with_prep: p.ns_per_opportunity_with_prep / dc,
      separate_heap_calls_vs_eval_only: heap ? p.ns_per_opportunity / heap : null,
      conditions_only_vs_eval_only: r.dealcoach_conditions_only_ns_per_opportunity
        ? p.ns_per_opportunity / r.dealcoach_conditions_only_ns_per_opportunity : null,
    };
  }
  return r;
}

function build(work, mode) {
  const result = { mode, machine: machine(), engine: {}, bulk: null, peers: null, load: null, goals: [] };
  const { ns, errors } = engineFigures(readJson(path.join(work, 'engine.json')));
  const compile = {};
  for (const [k, v] of Object.entries(ns)) if (k.startsWith('BM_Compile/')) compile[k.slice(11)] = v;
  const pick = (prefix, xs) => xs.filter((x) => ns[`${prefix}/${x}`] !== undefined).map((x) => [x, ns[`${prefix}/${x}`]]);
  result.engine = {
    compile_ns: compile,
    evaluate_ns: ns.BM_Evaluate ?? null,
    evaluate_with_checklists_ns: ns.BM_EvaluateAll ?? null,
    // The request path's protobuf and engine floor (engine_bench): see the table row.
    parse_pushed_reused_ns: ns.BM_ParsePushedReused ?? null,
    parse_pushed_fresh_ns: ns.BM_ParsePushedFresh ?? null,
    normalize_ns: ns.BM_Normalize != null && ns.BM_CopyOnly != null ? ns.BM_Normalize - ns.BM_CopyOnly : null,
    serialize_guidance_ns: ns.BM_SerializeGuidance ?? null,
    rules: slopes(pick('BM_Rules', [10, 100, 1000])),
    contacts: slopes(pick('BM_Contacts', [1, 10, 100])),
    activities: slopes(pick('BM_Activities', [10, 1000])),
    errors,
  };
  const bulk = readJson(path.join(work, 'bulk.json'));
  if (bulk) result.bulk = bulk;

  result.peers = peerFigures(readJson(path.join(work, 'fired.json')),
    readJson(path.join(work, 'peers.json')));
  // The CEL peers on the second shipped playbook (rules.js translates only the first).
  result.peers_meddicc = peerFigures(readJson(path.join(work, 'fired-meddicc.json')),
    readJson(path.join(work, 'peers-meddicc.json')));

  const load = {};
  for (const f of fs.existsSync(work) ? fs.readdirSync(work) : []) {
    const m = f.match(/^load-(.*)\.json$/);
    if (m) load[m[1]] = readJson(path.join(work, f));
  }
  if (Object.keys(load).length) {
    // Median over the alternating rounds (rate-id, rate-id~2, ...): see scripts/bench.sh.
    const p99 = (k) => {
      const xs = Object.keys(load)
        .filter((name) => name === k || name.startsWith(`${k}~`))
        .map((name) => load[name]?.latency_us?.p99)
        .filter((x) => typeof x === 'number')
        .sort((a, b) => a - b);
      if (!xs.length) return undefined;
      const mid = Math.floor(xs.length / 2);
      return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
    };
    const p99s = (k) => Object.keys(load)
      .filter((name) => name === k || name.startsWith(`${k}~`))
      .sort()
      .map((name) => load[name]?.latency_us?.p99);
    const median = (xs) => {
      const v = xs.filter((x) => typeof x === 'number').sort((x, y) => x - y);
      if (!v.length) return null;
      const mid = Math.floor(v.length / 2);
      return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
    };
    const rps = (k) => median(Object.keys(load)
      .filter((name) => name === k || name.startsWith(`${k}~`))
      .map((name) => load[name]?.throughput_rps));
    // Paired per-round p99 ratios: round k of GetDealGuidance against round k of Health
    // (adjacent windows, so a slow drift of the machine moves both).
    const paired = (a, b) => {
      const ra = p99s(a);
      const rb = p99s(b);
      const ratios = [];
      for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
        if (typeof ra[i] === 'number' && typeof rb[i] === 'number' && rb[i] > 0) ratios.push(ra[i] / rb[i]);
      }
      return ratioStats(ratios);
    };
    const sat = {
      health: rps('closed-health'),
      guidance_push: rps('closed-push'),
      guidance_id: rps('closed-id'),
    };
    result.load = {
      runs: load,
      saturation_rps: sat,
      saturation_rounds_rps: Object.fromEntries(['closed-health', 'closed-push', 'closed-id'].map((k) => [k,
        Object.keys(load).filter((n) => n === k || n.startsWith(`${k}~`)).sort().map((n) => load[n]?.throughput_rps)])),
      saturation_ratio_push_vs_health: sat.health && sat.guidance_push ? sat.guidance_push / sat.health : null,
      saturation_ratio_id_vs_health: sat.health && sat.guidance_id ? sat.guidance_id / sat.health : null,
      // Headline p99 ratios: the median of the paired per-round ratios (see ratioStats).
      p99_ratio_push_vs_health: paired('rate-push', 'rate-health-at-push').median,
      p99_ratio_id_vs_health: paired('rate-id', 'rate-health-at-id').median,
      p99_ratio_stats: {
        push_vs_health: paired('rate-push', 'rate-health-at-push'),
        id_vs_health: paired('rate-id', 'rate-health-at-id'),
        decision_log_on_vs_off: paired('rate-push', 'rate-push-nolog'),
        // Not the goal's pairing: Health at 50% of its own saturation (each RPC at half
        // of what it sustains), with the server's utilization beside it.
        push_vs_health_own: paired('rate-push', 'rate-health-own'),
        id_vs_health_own: paired('rate-id', 'rate-health-own'),
      },
      // The earlier method, kept for comparison: median p99 of each side, then the ratio.
      p99_ratio_of_medians: {
        push_vs_health: p99('rate-push') && p99('rate-health-at-push') ? p99('rate-push') / p99('rate-health-at-push') : null,
        id_vs_health: p99('rate-id') && p99('rate-health-at-id') ? p99('rate-id') / p99('rate-health-at-id') : null,
      },
      p99_ratio_decision_log_on_vs_off: paired('rate-push', 'rate-push-nolog').median,
      p99_rounds_us: Object.fromEntries(['rate-push', 'rate-health-at-push', 'rate-id', 'rate-health-at-id', 'rate-push-nolog', 'rate-health-own'].map((k) => [k, p99s(k)])),
      // The server's CPU per call and utilization over each run's window (loadgen
      // --server-pid, bench/loadgen/server_usage.h), the median of the rounds: the load a
      // p99 was measured under.
      server_usage: Object.fromEntries(['closed-health', 'closed-push', 'closed-id', 'rate-push',
        'rate-health-at-push', 'rate-id', 'rate-health-at-id', 'rate-push-nolog', 'rate-health-own'].map((k) => {
        const runs = Object.keys(load).filter((n) => n === k || n.startsWith(`${k}~`)).map((n) => load[n]?.server).filter(Boolean);
        const m = (f) => median(runs.map((x) => x[f]));
        return [k, runs.length ? { rounds: runs.length, utilization: m('utilization'), cpu_us_per_call: m('cpu_us_per_call'),
          user_us_per_call: m('user_us_per_call'), system_us_per_call: m('system_us_per_call'),
          runqueue_wait_us_per_call: m('runqueue_wait_us_per_call'), context_switches_per_call: m('context_switches_per_call') } : null];
      })),
    };
  }

  // Goals.
  const goal = (name, value, op, target, unit) => {
    const met = value === null || value === undefined ? null : op === '>=' ? value >= target : op === '<=' ? value <= target : value < target;
    result.goals.push({ name, value, goal: `${op} ${target}${unit || ''}`, met });
  };
  const ratio = (n) => result.peers?.ratios?.[n]?.vs_eval_only ?? null;
  // Issue 16: one deal, full answer (guidance + every checklist) against each peer.
  goal('engine vs json-rules-engine (x faster, single thread)', ratio('json-rules-engine'), '>=', 50, 'x');
  goal('engine vs zen-engine (x faster, single thread)', ratio('zen-engine'), '>=', 50, 'x');
  goal('engine vs cel-js, conditions only (x faster, single thread)', ratio('cel-js'), '>=', 20, 'x');
  goal('engine vs bufbuild-cel, conditions only (x faster, single thread)', ratio('bufbuild-cel'), '>=', 20, 'x');
  for (const name of ['cel-js', 'bufbuild-cel']) {
    const v = result.peers_meddicc?.ratios?.[name]?.vs_eval_only ?? null;
    if (v !== null) goal(`engine vs ${name} on meddicc, conditions only (x faster)`, v, '>=', 20, 'x');
  }
  goal('GetDealGuidance push saturation / Health saturation', result.load?.saturation_ratio_push_vs_health ?? null, '>=', 0.7, 'x');
  goal('GetDealGuidance id saturation / Health saturation', result.load?.saturation_ratio_id_vs_health ?? null, '>=', 0.7, 'x');
  goal('GetDealGuidance push p99 / Health p99 at 50% saturation (median of paired rounds)', result.load?.p99_ratio_push_vs_health ?? null, '<=', 1.2, 'x');
  goal('GetDealGuidance id p99 / Health p99 at 50% saturation (median of paired rounds)', result.load?.p99_ratio_id_vs_health ?? null, '<=', 1.2, 'x');
  goal('GetDealGuidance push p99, decision log on / off at 50% saturation', result.load?.p99_ratio_decision_log_on_vs_off ?? null, '<=', 1.1, 'x');
  goal(`bulk ${result.bulk?.threads ?? '?'}-thread vs 1-thread speedup`, result.bulk?.speedup ?? null, '>=', 1.8, 'x');
  goal('cache overhead per opportunity beyond its data (bytes)', result.bulk?.cache_overhead_per_opportunity_bytes ?? null, '<', 1024, ' B');
  goal('evaluation cost linear-or-better in rule count', result.engine.rules ? (result.engine.rules.linear_or_better ? 1 : 0) : null, '>=', 1);
  goal('evaluation cost linear-or-better in contacts', result.engine.contacts ? (result.engine.contacts.linear_or_better ? 1 : 0) : null, '>=', 1);
  for (const [label, set] of [['', result.peers], [' (meddicc)', result.peers_meddicc]]) {
    for (const [name, p] of Object.entries(set?.peers || {})) {
      goal(`${name} rule sets equal dealcoach's${label} (mismatches in ${p.equivalence.sample})`, p.equivalence.mismatches, '<=', 0);
    }
  }
  return result;
}

const fmt = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? 'n/a' : Number(x).toFixed(d));
const us = (ns) => fmt(ns / 1000, 2);
const mib = (b) => fmt(b / 1048576, 1);

function table(r) {
  const rows = [];
  const row = (what, value, note = '') => rows.push(`| ${what} | ${value} | ${note} |`);
  rows.push('| measurement | value | goal / note |', '|---|---|---|');
  for (const [k, v] of Object.entries(r.engine.compile_ns || {})) row(`compile ${k}.yaml`, `${fmt(v / 1e6, 2)} ms`);
  row('evaluate 1 opportunity, customer-journey', `${us(r.engine.evaluate_ns)} µs`, 'engine_bench, CPU time');
  row('evaluate + review checklists', `${us(r.engine.evaluate_with_checklists_ns)} µs`);
  const sl = (label, s, unit) => {
    if (!s) return row(label, 'n/a');
    const pts = s.points.map((p) => `${p.n}: ${us(p.ns)} µs`).join(', ');
    row(label, `${fmt(s.ns_per_unit, 1)} ns per ${unit}`,
      `${pts}; growth exponent ${fmt(s.growth_exponent, 2)} (${s.linear_or_better ? 'linear or better' : 'superlinear'})`);
  };
  sl('rule-count slope', r.engine.rules, 'rule');
  sl('contacts slope', r.engine.contacts, 'contact');
  sl('activities slope', r.engine.activities, 'activity');
  const peerRows = (P, label) => {
    if (!P) return;
    const per = (ns, n) => (n ? `, ${fmt(ns / n, 0)} ns per condition` : '');
    row(`dealcoach${label}, same data as peers (guidance + checklists, one review call, arena)`,
      `${us(P.dealcoach_ns_per_opportunity)} µs per deal${per(P.dealcoach_ns_per_opportunity, P.conditions)}`,
      `${P.opportunities} opportunities${P.conditions ? `; ${P.conditions} conditions in the playbook` : ''}`);
    if (P.dealcoach_conditions_only_ns_per_opportunity) {
      const ratios = Object.entries(P.ratios || {}).filter(([, q]) => q.conditions_only_vs_eval_only)
        .map(([name, q]) => `${fmt(q.conditions_only_vs_eval_only)}x ${name}`).join(', ');
      row(`dealcoach${label}, every condition alone, no answer built`,
        `${us(P.dealcoach_conditions_only_ns_per_opportunity)} µs per deal${per(P.dealcoach_conditions_only_ns_per_opportunity, P.conditions)}`,
        `the peers' own work (not a goal's figure): faster than ${ratios}`);
    }
    if (P.dealcoach_separate_heap_ns_per_opportunity) {
      row(`dealcoach${label}, same work as separate heap-allocated calls`, `${us(P.dealcoach_separate_heap_ns_per_opportunity)} µs`, 'Evaluate + each EvaluateChecklist');
    }
    for (const [name, p] of Object.entries(P.peers || {})) {
      const q = P.ratios[name];
      const heap = q.separate_heap_calls_vs_eval_only ? `; ${fmt(q.separate_heap_calls_vs_eval_only)}x with separate heap calls` : '';
      row(`${name} ${p.version}${label}`, `${us(p.ns_per_opportunity)} µs per deal${per(p.ns_per_opportunity, p.conditions)} (${us(p.ns_per_opportunity_with_prep)} µs with prep)`,
        `dealcoach ${fmt(q.vs_eval_only)}x faster (${fmt(q.vs_eval_with_prep)}x incl. prep${heap}); ${p.equivalence.mismatches}/${p.equivalence.sample} mismatches`);
    }
  };
  peerRows(r.peers, '');
  peerRows(r.peers_meddicc, ' (meddicc)');
  if (r.load) {
    const s = r.load.saturation_rps;
    row('saturation, closed loop (32 outstanding)', `health ${fmt(s.health, 0)} rps, push ${fmt(s.guidance_push, 0)} rps, id ${fmt(s.guidance_id, 0)} rps`,
      r.load.saturation_ratio_push_vs_health != null ? `push ${fmt(r.load.saturation_ratio_push_vs_health, 2)}x, id ${fmt(r.load.saturation_ratio_id_vs_health, 2)}x Health (goal ≥ 0.7x); median of ${(r.load.saturation_rounds_rps?.['closed-health'] || []).length} alternating rounds` : '');
    for (const k of ['rate-push', 'rate-health-at-push', 'rate-id', 'rate-health-at-id', 'rate-push-nolog', 'rate-health-own']) {
      const l = r.load.runs[k];
      if (!l) continue;
      const L = l.latency_us;
      row(`${k} @ ${fmt(l.offered_rate, 0)} rps`, `p50 ${fmt(L.p50, 0)} / p90 ${fmt(L.p90, 0)} / p99 ${fmt(L.p99, 0)} / p99.9 ${fmt(L.p999, 0)} µs`,
        `${l.sustained ? 'sustained' : `NOT sustained (${l.unsent} unsent, ${l.errors} errors)`}`);
    }
    const rounds = r.load.p99_rounds_us || {};
    const list = (k) => (rounds[k] || []).map((x) => fmt(x, 0)).join(', ');
    const st = r.load.p99_ratio_stats || {};
    const spread = (x) => (x && x.rounds ? `per round ${x.ratios.map((v) => fmt(v, 2)).join(', ')}; min ${fmt(x.min, 2)}, max ${fmt(x.max, 2)}` +
      (x.median_ci ? `; ${fmt(100 * x.median_ci.confidence, 1)}% CI of the median ${fmt(x.median_ci.low, 2)}–${fmt(x.median_ci.high, 2)}` : '') : '');
    if ((rounds['rate-id'] || []).length > 1) {
      row('p99 per alternating round, push vs health', `${list('rate-push')} µs vs ${list('rate-health-at-push')} µs`, 'paired by round');
      row('p99 per alternating round, id vs health', `${list('rate-id')} µs vs ${list('rate-health-at-id')} µs`, 'paired by round');
    }
    row('p99 ratio GetDealGuidance push / Health', `${fmt(r.load.p99_ratio_push_vs_health, 2)}x`, `goal ≤ 1.2x; median of paired rounds; ${spread(st.push_vs_health)}`);
    row('p99 ratio GetDealGuidance id / Health', `${fmt(r.load.p99_ratio_id_vs_health, 2)}x`, `goal ≤ 1.2x; median of paired rounds; ${spread(st.id_vs_health)}`);
    if (r.load.p99_ratio_decision_log_on_vs_off != null) {
      row('p99 ratio GetDealGuidance push, decision log on / off', `${fmt(r.load.p99_ratio_decision_log_on_vs_off, 2)}x`, `goal ≤ 1.1x; ${spread(st.decision_log_on_vs_off)}`);
    }
    for (const [name, key] of [['push', 'push_vs_health_own'], ['id', 'id_vs_health_own']]) {
      const x = st[key];
      if (x && x.rounds) {
        row(`p99 ratio GetDealGuidance ${name} / Health at 50% of Health's own saturation`, `${fmt(x.median, 2)}x`,
          `not the goal's pairing (each RPC at half of what it sustains); median of paired rounds; ${spread(x)}`);
      }
    }
    const u = r.load.server_usage || {};
    const usage = (k) => (u[k] ? `${fmt(u[k].cpu_us_per_call, 1)} µs (user ${fmt(u[k].user_us_per_call, 1)}, sys ${fmt(u[k].system_us_per_call, 1)}), ` +
      `${fmt(100 * u[k].utilization, 0)}% busy, ${fmt(u[k].context_switches_per_call, 2)} switches/call` : null);
    for (const k of Object.keys(u)) {
      if (usage(k)) row(`server CPU per call, ${k}`, usage(k), `median of ${u[k].rounds} rounds; run-queue wait ${fmt(u[k].runqueue_wait_us_per_call, 1)} µs/call`);
    }
    // What the saturation goal leaves a call beyond Health's (same CPU per call at 0.7x
    // the rate: 1/0.7 - 1 = 0.43 of Health's), against the in-process cost of the
    // protobuf and engine work alone, before gRPC's handling and the decision log.
    const e = r.engine;
    const health = u['closed-health'] && u['closed-health'].cpu_us_per_call;
    if (health && e.evaluate_ns != null && e.parse_pushed_reused_ns != null && e.serialize_guidance_ns != null && e.normalize_ns != null) {
      const budget = health * (1 / 0.7 - 1);
      const push = (e.parse_pushed_reused_ns + e.normalize_ns + e.evaluate_ns + e.serialize_guidance_ns) / 1000;
      const byId = (e.evaluate_ns + e.serialize_guidance_ns) / 1000;
      row('request path floor (in process) vs the 0.7x budget', `push ${fmt(push, 2)} µs, id ${fmt(byId, 2)} µs; budget ${fmt(budget, 2)} µs per call beyond Health's`,
        `parse the pushed deal ${us(e.parse_pushed_reused_ns)} µs (into a new message ${us(e.parse_pushed_fresh_ns)}), normalize ${us(e.normalize_ns)}, ` +
        `evaluate ${us(e.evaluate_ns)}, serialize the guidance ${us(e.serialize_guidance_ns)} µs; the budget is 0.43 x Health's ${fmt(health, 1)} µs closed-loop CPU per call`);
    }
  }
  if (r.bulk) {
    const b = r.bulk;
    row(`bulk 1 thread (${b.opportunities} opps)`, `${fmt(b.one_thread_ops_per_s, 0)} opp/s`);
    row(`bulk ${b.threads} threads`, `${fmt(b.n_threads_ops_per_s, 0)} opp/s`, `speedup ${fmt(b.speedup, 2)}x (goal ≥ 1.8x)`);
    row(`peak RSS with ${b.opportunities} cached opportunities`, `${mib(b.peak_rss_with_cache_bytes)} MiB`, `process peak overall ${mib(b.peak_rss_bytes)} MiB`);
    for (const c of b.cache) {
      const sidecar = c.layout === 'sidecar_source';
      row(`cache layout ${c.layout}${sidecar ? ' (the sidecar\'s OpportunitySource)' : ''}`, `${fmt(c.overhead_per_opportunity_bytes, 0)} B overhead/opp`,
        `data ${fmt(c.data_bytes_per_opportunity, 0)} B/opp, RSS ${fmt(c.rss_per_opportunity_bytes, 0)} B/opp${sidecar ? ' (goal < 1024 B)' : ''}`);
      if (sidecar && c.lookup_ns_parsed_lru_hit) {
        row('cache lookup by id', `${us(c.lookup_ns_parsed_lru_hit)} µs when parsed (LRU hit)`,
          `${us(c.lookup_ns_parsed_lru_miss)} µs when parsed from bytes (LRU miss)${c.parsed_lru_rss_bytes !== undefined ? `; the LRU's ${c.parsed_lru_entries} parsed entries: ${mib(c.parsed_lru_rss_bytes)} MiB` : ''}`);
      }
    }
  }
  rows.push('', '| goal | value | target | met |', '|---|---|---|---|');
  for (const g of r.goals) rows.push(`| ${g.name} | ${fmt(g.value, 2)} | ${g.goal} | ${g.met === null ? 'not measured' : g.met ? 'yes' : 'NO'} |`);
  return rows.join('\n');
}

function machineLine(r) {
  const m = r.machine;
  return `Machine: ${m.nproc} CPUs (${m.cpu_model}), ${mib(m.memory_bytes)} MiB RAM, Linux ${m.kernel}, node ${m.node}; ` +
    `commit ${m.commit || '?'}, ${m.date}, run mode ${r.mode}, load average at the end ${m.loadavg_at_end.join(' ')}.`;
}

function updateDocs(file, r) {
  const begin = '<!-- results:begin (generated by bench/peers/report.js; do not edit) -->';
  const end = '<!-- results:end -->';
  const text = fs.readFileSync(file, 'utf8');
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`${file}: results markers not found`);
  const body = `${begin}\n${machineLine(r)}\n\n${table(r)}\n${end}`;
  fs.writeFileSync(file, text.slice(0, i) + body + text.slice(j + end.length));
}

function main() {
  const o = args();
  let r;
  if (o.from) {
    r = readJson(o.from);
    if (!r) throw new Error(`cannot read ${o.from}`);
  } else {
    if (!o.work || !o.out) throw new Error('usage: report.js --work DIR --out FILE [--mode M] [--docs FILE] | --from FILE --docs FILE');
    r = build(o.work, o.mode || 'full');
    fs.mkdirSync(path.dirname(o.out), { recursive: true });
    fs.writeFileSync(o.out, JSON.stringify(r, null, 2) + '\n');
  }
  process.stdout.write(`${machineLine(r)}\n\n${table(r)}\n`);
  if (o.docs) updateDocs(o.docs, r);
}

try {
  main();
} catch (e) {
  process.stderr.write(`report: ${e.message}\n`);
  process.exit(1);
}
