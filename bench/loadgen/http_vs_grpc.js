#!/usr/bin/env node
// The HTTP/JSON vs gRPC comparison of one scripts/bench.sh run (issue 14's goals):
//   saturation  GET /v1/deals/{id}/guidance (HTTP/1.1 keep-alive, 32 connections) vs
//               GetDealGuidance by id (one HTTP/2 channel, 32 calls outstanding), closed
//               loop, alternating rounds; the median of the per-round ratios. Goal >= 0.7x.
//   p99         both at the same offered rate, 50% of the HTTP saturation, alternating
//               rounds; the median of the per-round p99 ratios. Goal <= 1.5x.
// Reads the loadgen results (load-closed-http-id*.json, load-closed-id*.json,
// load-rate-http-id*.json, load-rate-id-at-http*.json) from --work and adds an
// `http_vs_grpc` object and two goals to the result file bench/peers/report.js wrote
// (--out), then prints the figures.
'use strict';
const fs = require('fs');
const path = require('path');

function args() {
  const o = {};
  for (let i = 2; i < process.argv.length; i += 2) o[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
  return o;
}

// Round k's result of a run name: name (round 1), name~2, name~3, ... from the work
// dir's loadgen files, or (recomputing after the run) from the result's load.runs.
function rounds(work, runs, name) {
  const out = [];
  for (let k = 1; ; k++) {
    const key = `${name}${k === 1 ? '' : `~${k}`}`;
    const f = work ? path.join(work, `load-${key}.json`) : null;
    if (f && fs.existsSync(f)) out.push(JSON.parse(fs.readFileSync(f, 'utf8')));
    else if (runs && runs[key]) out.push(runs[key]);
    else break;
  }
  return out;
}

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function paired(a, b, value) {
  const ratios = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = value(a[i]);
    const y = value(b[i]);
    if (typeof x === 'number' && typeof y === 'number' && y > 0) ratios.push(x / y);
  }
  return { rounds: ratios.length, ratios, median: median(ratios), min: ratios.length ? Math.min(...ratios) : null, max: ratios.length ? Math.max(...ratios) : null };
}

function main() {
  const o = args();
  if (!o.out) throw new Error('usage: http_vs_grpc.js [--work DIR] --out RESULT.json');
  const result = JSON.parse(fs.readFileSync(o.out, 'utf8'));
  const runs = result.load && result.load.runs;
  const closedHttp = rounds(o.work, runs, 'closed-http-id');
  const closedGrpc = rounds(o.work, runs, 'closed-id');
  const rateHttp = rounds(o.work, runs, 'rate-http-id');
  const rateGrpc = rounds(o.work, runs, 'rate-id-at-http');
  if (!closedHttp.length || !rateHttp.length) throw new Error(`no HTTP loadgen results in ${o.work}`);
  const rps = (r) => r.throughput_rps;
  // Every round counts, as in the report's other pairs; rounds whose offered rate was not
  // fully sustained (more than 0.1% of calls unsent, e.g. on a busy machine) are named.
  const p99 = (r) => r.latency_us.p99;
  const sat = paired(closedHttp, closedGrpc, rps);
  const lat = paired(rateHttp, rateGrpc, p99);
  const all = [...closedHttp, ...rateHttp];
  const r = {
    route: 'GET /v1/deals/{id}/guidance vs CoachingService.GetDealGuidance (by id), same server',
    saturation_rps: { http: median(closedHttp.map(rps)), grpc: median(closedGrpc.map(rps)) },
    saturation_rounds_rps: { http: closedHttp.map(rps), grpc: closedGrpc.map(rps) },
    saturation_ratio_http_vs_grpc: sat.median,
    saturation_ratio_stats: sat,
    offered_rate_rps: rateHttp[0].offered_rate,
    p99_rounds_us: { http: rateHttp.map((x) => x.latency_us.p99), grpc: rateGrpc.map((x) => x.latency_us.p99) },
    p50_us: { http: median(rateHttp.map((x) => x.latency_us.p50)), grpc: median(rateGrpc.map((x) => x.latency_us.p50)) },
    p99_ratio_http_vs_grpc: lat.median,
    p99_ratio_stats: lat,
    sustained: rateHttp.every((x) => x.sustained) && rateGrpc.every((x) => x.sustained),
    unsustained_rounds: {
      http: rateHttp.map((x, i) => (x.sustained ? null : { round: i + 1, unsent: x.unsent, errors: x.errors })).filter(Boolean),
      grpc: rateGrpc.map((x, i) => (x.sustained ? null : { round: i + 1, unsent: x.unsent, errors: x.errors })).filter(Boolean),
    },
    http_errors: all.reduce((n, x) => n + x.errors, 0),
    http_reconnects: all.reduce((n, x) => n + (x.reconnects || 0), 0),
  };
  result.http_vs_grpc = r;
  result.goals = (result.goals || []).filter((g) => !g.name.startsWith('HTTP/gRPC'));
  const goal = (name, value, op, target) => result.goals.push({
    name, value, goal: `${op} ${target}x`, met: value === null ? null : op === '>=' ? value >= target : value <= target,
  });
  goal('HTTP/gRPC saturation throughput, guidance by id (issue 14)', r.saturation_ratio_http_vs_grpc, '>=', 0.7);
  goal('HTTP/gRPC p99 at 50% of HTTP saturation, same rate (issue 14)', r.p99_ratio_http_vs_grpc, '<=', 1.5);
  fs.writeFileSync(o.out, JSON.stringify(result, null, 2) + '\n');
  const f = (x, d = 2) => (x === null || x === undefined ? 'n/a' : Number(x).toFixed(d));
  const verdict = (g) => (g.met === null ? 'not measured' : g.met ? 'goal met' : 'GOAL MISSED');
  const [gs, gp] = result.goals.slice(-2);
  process.stdout.write(
    `\nHTTP/JSON vs gRPC, guidance by id (${closedHttp.length} closed + ${rateHttp.length} rate rounds, alternating)\n` +
    `  saturation  http ${f(r.saturation_rps.http, 0)} rps, grpc ${f(r.saturation_rps.grpc, 0)} rps: ` +
    `${f(r.saturation_ratio_http_vs_grpc)}x (per round ${sat.ratios.map((x) => f(x)).join(', ')}; goal >= 0.7x: ${verdict(gs)})\n` +
    `  p99 @ ${f(r.offered_rate_rps, 0)} rps  http ${r.p99_rounds_us.http.map((x) => f(x, 0)).join(', ')} µs, ` +
    `grpc ${r.p99_rounds_us.grpc.map((x) => f(x, 0)).join(', ')} µs: ${f(r.p99_ratio_http_vs_grpc)}x ` +
    `(per round ${lat.ratios.map((x) => f(x)).join(', ')}; goal <= 1.5x: ${verdict(gp)})\n` +
    (r.sustained ? '' : `  not fully sustained: http rounds ${JSON.stringify(r.unsustained_rounds.http)}, grpc rounds ${JSON.stringify(r.unsustained_rounds.grpc)}\n`) +
    `  http errors ${r.http_errors}, reconnects ${r.http_reconnects}\n`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`http_vs_grpc: ${e.message}\n`);
  process.exit(1);
}
