// The app card, rendered by @hubspot/ui-extensions' own testing utilities
// (createRenderer: HubSpot's components and hooks without the HubSpot worker), against
// a real dealcoach sidecar: the test starts `dealcoach serve` on the shipped samples
// with the HubSpot signature check on (http.hubspot_client_secret, http.public_url),
// and stands in for HubSpot's side of hubspot.fetch (self.hsFetch in the worker): it
// adds HubSpot's context query parameters, signs the request with
// X-HubSpot-Signature-v3 as HubSpot does, and sends it to the sidecar on loopback.
//
// Run: DEALCOACH_BIN=build/dealcoach DEALCOACH_SOURCE_DIR=. npx vitest run
// (ctest kit_hubspot_card).
import React from "react";
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Alert, Heading, Link, List, LoadingSpinner, StatusTag, Text } from "@hubspot/ui-extensions";
import { createRenderer } from "@hubspot/ui-extensions/testing";
import { DealcoachCard } from "./DealcoachCard.jsx";

const BIN = process.env.DEALCOACH_BIN;
const SRC = process.env.DEALCOACH_SOURCE_DIR;
const SECRET = "hubspot-card-test-client-secret";
const PUBLIC = "https://dealcoach.example.com"; // the card's SIDECAR and the sidecar's public_url
const DEALS = ["006000000000006AAA", "006000000000052AAA", "006000000000010AAA"];
const WORDS = { CRITERION_STATUS_MET: "Met", CRITERION_STATUS_UNMET: "Not met", CRITERION_STATUS_UNKNOWN: "Not recorded" };
const SEVERITY = { RISK_SEVERITY_HIGH: "High", RISK_SEVERITY_MEDIUM: "Medium", RISK_SEVERITY_LOW: "Low" };

let sidecar;
let port;
let work;
let secret = SECRET; // what the stand-in for HubSpot signs with
const calls = [];

// HubSpot's side of hubspot.fetch: context parameters, then the v3 signature over
// method + URI (with the listed escapes decoded) + body + timestamp.
async function hsFetch(url, options = {}) {
  calls.push({ url, options });
  const method = (options.method || "GET").toUpperCase();
  const body = options.body || "";
  const u = new URL(url);
  for (const [k, v] of Object.entries({ userId: "123", portalId: "456", userEmail: "rep@example.com", appId: "789" })) {
    u.searchParams.set(k, v);
  }
  const ts = String(Date.now());
  const signed = u.href.replace(/%40/g, "@");
  const sig = crypto.createHmac("sha256", secret).update(method + signed + body + ts).digest("base64");
  return fetch(`http://127.0.0.1:${port}${u.pathname}${u.search}`, {
    method, body: body || undefined,
    headers: { "X-HubSpot-Signature-v3": sig, "X-HubSpot-Request-Timestamp": ts },
  });
}

function startSidecar() {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, [
      "serve", "--config", path.join(SRC, "config/sidecar.yaml"), "--listen", "127.0.0.1:0",
      "--http.listen", "127.0.0.1:0", "--http.public_url", PUBLIC, "--store.backend", "none",
      "--shutdown_grace", "1s",
    ], { stdio: ["ignore", "pipe", "pipe"], cwd: work, env: { ...process.env, DEALCOACH_HTTP_HUBSPOT_CLIENT_SECRET: SECRET } });
    let out = "";
    const timer = setTimeout(() => reject(new Error(`sidecar did not start:\n${out}`)), 15000);
    const onData = (d) => {
      out += d.toString();
      const m = out.match(/http listening on 127\.0\.0\.1:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`sidecar exited ${code}:\n${out}`)));
  });
}

async function guidance(id) {
  const r = await hsFetch(`${PUBLIC}/v1/deals/${id}/guidance`);
  expect(r.status).toBe(200);
  return (await r.json()).guidance;
}

const texts = (node, matcher) => node.findAll(Text, matcher).map((t) => (t.text || "").trim());

async function renderCard(id) {
  const renderer = createRenderer("crm.record.tab");
  renderer.render(<DealcoachCard context={{ crm: { objectId: id, objectTypeId: "0-3" } }} />);
  await renderer.waitFor(() => expect(renderer.maybeFind(LoadingSpinner)).toBeNull(), { timeout: 10000 });
  return renderer;
}

beforeAll(async () => {
  if (!BIN || !SRC) throw new Error("set DEALCOACH_BIN (the dealcoach binary) and DEALCOACH_SOURCE_DIR");
  work = fs.mkdtempSync(path.join(os.tmpdir(), "dealcoach-hubspot-card-"));
  ({ child: sidecar, port } = await startSidecar());
  globalThis.self = globalThis;
  globalThis.hsFetch = hsFetch;
}, 20000);

afterAll(async () => {
  if (sidecar && sidecar.exitCode === null) {
    await new Promise((resolve) => {
      sidecar.once("exit", resolve);
      sidecar.kill("SIGTERM");
    });
  }
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe("DealcoachCard against a real sidecar through a signed hubspot.fetch", () => {
  for (const id of DEALS) {
    it(`shows deal ${id}'s evidence phase, next gate, top steps and risks`, async () => {
      const g = await guidance(id);
      const { find, findAll, maybeFind } = await renderCard(id);
      expect(maybeFind(Alert, { variant: "error" })).toBeNull();
      const summary = findAll(Text)[0];
      expect(summary.text).toMatch(/^Evidence says /);
      expect(summary.find(Text, { inline: true }).text).toBe(g.evidencePhase.name);
      const gate = g.gates.find((x) => x.phase.id === g.evidencePhase.id);
      const headings = findAll(Heading).map((h) => h.text);
      expect(headings).toEqual([`Next gate: leaving ${gate.phase.name}`, "Top next steps", "Risks"]);
      const [criteria, steps, risks] = findAll(List);
      expect(criteria.findAll(StatusTag).map((t) => t.text)).toEqual(gate.criteria.map((c) => WORDS[c.status]));
      // A node's .text is its own text children, so each item's words come without its tag.
      expect(texts(criteria, (n) => n.props.variant !== "microcopy")).toEqual(gate.criteria.map((c) => c.text));
      const hints = gate.criteria.filter((c) => c.status !== "CRITERION_STATUS_MET" && c.hint).map((c) => `→ ${c.hint}`);
      expect(texts(criteria, { variant: "microcopy" })).toEqual(hints);
      const behaviors = g.nextBestBehaviors || [];
      expect(texts(steps, (n) => n.props.format && n.props.format.fontWeight === "bold")).toEqual(behaviors.map((b) => b.prompt));
      expect(texts(steps, { variant: "microcopy" })).toEqual(behaviors.filter((b) => b.why).map((b) => `Why: ${b.why}`));
      expect(steps.findAll(Link).map((l) => l.props.href)).toEqual(behaviors.flatMap((b) => (b.content || []).map((c) => c.url)));
      expect(risks.findAll(StatusTag).map((t) => t.text)).toEqual((g.risks || []).map((r) => SEVERITY[r.severity]));
      expect(texts(risks)).toEqual((g.risks || []).map((r) => r.text));
      if (g.stageAheadOfEvidence) {
        expect(find(Alert, { variant: "warning" }).text).toContain(g.stageAheadOfEvidence.message);
      }
    });
  }

  it("calls only the allow-listed sidecar URL, with no custom headers", () => {
    expect(calls.length).toBeGreaterThan(0);
    for (const c of calls) {
      expect(c.url.startsWith(`${PUBLIC}/v1/deals/`)).toBe(true);
      expect(c.options.headers).toBeUndefined();
    }
  });

  it("shows the sidecar's message for a deal it does not have", async () => {
    const { find } = await renderCard("no-such-deal");
    expect(find(Alert, { variant: "error" }).text).toMatch(/no-such-deal.*not found/);
  });

  it("shows the sidecar's refusal when the request is signed with another secret", async () => {
    secret = "not-the-app-client-secret";
    try {
      const { find } = await renderCard(DEALS[0]);
      expect(find(Alert, { variant: "error" }).text).toMatch(/signature/i);
    } finally {
      secret = SECRET;
    }
  });
});
