#!/usr/bin/env node
// Converts the cel-spec conformance suites that the playbook expression language covers
// into tests/conformance/testdata/cel_spec.json, the input of the C++ conformance runner
// (tests/conformance/conformance_test.cc). The data comes from @bufbuild/cel-spec,
// installed by scripts/setup.sh into tools/node/node_modules.
//
// Usage: node scripts/gen-conformance.mjs   (from the repository root)
//
// Output: {"suites": [every cel-spec suite name, converted or not], "tests": [{suite,
// name, expr, check, env: [{name, type}], bindings: {name:
// value}, expect: value | {"error": message}}]}, where a value is {"t": kind, "v": ...}
// with kind one of int, uint (decimal strings), double (number or "NaN"/"Infinity"/
// "-Infinity"), string, bytes (hex), bool, null, list, map ([[k, v], ...]), type,
// timestamp, duration, unsupported (a protobuf message outside the subset).
import { createRequire } from "node:module";
import { writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "tools/node/package.json"));
const { tests } = require(
  join(root, "tools/node/node_modules/@bufbuild/cel-spec/dist/cjs/testdata/conformance.js"),
);

const SUITES = [
  "basic", "comparisons", "conversions", "fp_math", "integer_math", "lists", "logic",
  "macros", "macros2", "parse", "string", "timestamps", "fields",
];

function convertType(t) {
  if (t.primitive) {
    return {
      BOOL: "bool", INT64: "int", UINT64: "uint", DOUBLE: "double", STRING: "string",
      BYTES: "bytes",
    }[t.primitive];
  }
  if ("null" in t) return "null_type";
  if (t.listType) return `list(${convertType(t.listType.elemType)})`;
  if (t.mapType) {
    return `map(${convertType(t.mapType.keyType)}, ${convertType(t.mapType.valueType)})`;
  }
  if (t.messageType === "google.protobuf.Duration") return "duration";
  if (t.messageType === "google.protobuf.Timestamp") return "timestamp";
  if (t.wellKnown === "DURATION") return "duration";
  if (t.wellKnown === "TIMESTAMP") return "timestamp";
  if ("dyn" in t) return "dyn";
  return `unsupported:${JSON.stringify(t)}`;
}

function formatDuration(seconds, nanos) {
  let s = BigInt(seconds ?? 0) * 1000000000n + BigInt(nanos ?? 0);
  const neg = s < 0n;
  if (neg) s = -s;
  const whole = s / 1000000000n;
  let frac = (s % 1000000000n).toString().padStart(9, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${whole}${frac ? "." + frac : ""}s`;
}

function convertValue(v) {
  if ("int64Value" in v) return { t: "int", v: String(v.int64Value) };
  if ("uint64Value" in v) return { t: "uint", v: String(v.uint64Value) };
  if ("doubleValue" in v) {
    const d = v.doubleValue;
    return { t: "double", v: typeof d === "string" ? d : d };
  }
  if ("stringValue" in v) return { t: "string", v: v.stringValue };
  if ("bytesValue" in v) {
    return { t: "bytes", v: Buffer.from(v.bytesValue, "base64").toString("hex") };
  }
  if ("boolValue" in v) return { t: "bool", v: v.boolValue };
  if ("nullValue" in v) return { t: "null", v: null };
  if ("listValue" in v) return { t: "list", v: (v.listValue.values ?? []).map(convertValue) };
  if ("mapValue" in v) {
    return {
      t: "map",
      v: (v.mapValue.entries ?? []).map((e) => [convertValue(e.key), convertValue(e.value)]),
    };
  }
  if ("typeValue" in v) return { t: "type", v: v.typeValue };
  if ("objectValue" in v) {
    const o = v.objectValue;
    const type = o["@type"];
    if (type === "type.googleapis.com/google.protobuf.Duration") {
      // proto3 JSON form of a Duration is "1.5s".
      return { t: "duration", v: typeof o.value === "string" ? o.value : formatDuration(o.seconds, o.nanos) };
    }
    if (type === "type.googleapis.com/google.protobuf.Timestamp") {
      return { t: "timestamp", v: o.value };
    }
    return { t: "unsupported", v: type };
  }
  return { t: "unsupported", v: JSON.stringify(v) };
}

function walk(suite, path, out) {
  for (const t of suite.tests ?? []) {
    const o = t.original;
    const test = {
      suite: path[0],
      name: [...path.slice(1), o.name].join("/"),
      expr: o.expr,
      check: !o.disableCheck,
      env: (o.typeEnv ?? []).map((d) => ({
        name: d.name,
        type: d.ident ? convertType(d.ident.type) : `unsupported:${JSON.stringify(d)}`,
      })),
      bindings: {},
    };
    if (o.container) test.container = o.container;
    for (const [name, b] of Object.entries(o.bindings ?? {})) {
      test.bindings[name] = b.value ? convertValue(b.value) : { t: "unsupported", v: "non-value binding" };
    }
    if (o.evalError) {
      test.expect = { error: (o.evalError.errors ?? []).map((e) => e.message).join("; ") };
    } else if (o.value) {
      test.expect = convertValue(o.value);
    } else {
      test.expect = { t: "bool", v: true };  // cel-spec's default expectation
    }
    out.push(test);
  }
  for (const s of suite.suites ?? []) walk(s, [...path, s.name], out);
}

const out = [];
for (const s of tests.suites) {
  if (SUITES.includes(s.name)) walk(s, [s.name], out);
}
const file = join(root, "tests/conformance/testdata/cel_spec.json");
mkdirSync(dirname(file), { recursive: true });
// Every suite cel-spec ships, so that the runner can insist each one is either converted
// or listed in skip.txt with its reason.
const suites = tests.suites.map((s) => s.name);
writeFileSync(file, JSON.stringify({ suites, tests: out }, null, 1) + "\n");
console.log(`wrote ${out.length} tests to ${file}`);
