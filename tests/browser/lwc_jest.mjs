// The Salesforce kit's LWC Jest tests (@salesforce/sfdx-lwc-jest, pinned in
// integrations/salesforce/package.json) against answers recorded from a real sidecar in this
// run: starts `dealcoach serve` on the shipped samples with its HTTP listener on
// loopback, records GET /v1/deals/{id}/guidance and /checklist for several sample deals
// and the google.rpc.Status answer for a deal that does not exist (exactly what
// DealcoachController.cls passes to the component), writes them to a temporary
// directory, and runs sfdx-lwc-jest with DEALCOACH_LWC_FIXTURES pointing at it.
//
//   node tests/browser/lwc_jest.mjs                 record, then run the Jest tests (ctest)
//   node tests/browser/lwc_jest.mjs --record DIR    only record (regenerates the committed
//                                                   fixtures the tests fall back to when
//                                                   run by hand with `npm run test:unit`)
//
// Environment: DEALCOACH_BIN (the dealcoach binary), DEALCOACH_SOURCE_DIR.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const BIN = process.env.DEALCOACH_BIN;
const SRC = process.env.DEALCOACH_SOURCE_DIR;
// Deals with different shapes: stage ahead of evidence, later phases, few risks.
const DEALS = ["006000000000006AAA", "006000000000052AAA", "006000000000010AAA", "006000000000020AAA"];
const MISSING = "006000000000999AAA";

function startSidecar(dataDir) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, [
      "serve", "--config", path.join(SRC, "config/sidecar.yaml"), "--listen", "127.0.0.1:0",
      "--http.listen", "127.0.0.1:0", "--store.backend", "none", "--shutdown_grace", "1s",
    ], { stdio: ["ignore", "pipe", "pipe"], cwd: dataDir });
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

async function record(dir) {
  if (!BIN || !SRC) throw new Error("DEALCOACH_BIN and DEALCOACH_SOURCE_DIR must be set");
  fs.mkdirSync(dir, { recursive: true });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "dealcoach-lwc-"));
  const { child, port } = await startSidecar(work);
  try {
    const get = async (p, want) => {
      const r = await fetch(`http://127.0.0.1:${port}${p}`, { headers: { Accept: "application/json" } });
      const body = await r.text();
      if (r.status !== want) throw new Error(`${p}: HTTP ${r.status} (wanted ${want}): ${body}`);
      return body;
    };
    const index = {
      recorded_at: new Date().toISOString(),
      sidecar: "dealcoach serve --config config/sidecar.yaml (the shipped samples), GET /v1/deals/{id}/guidance and /checklist",
      deals: DEALS,
      missing: MISSING,
    };
    for (const id of DEALS) {
      fs.writeFileSync(path.join(dir, `${id}.guidance.json`), await get(`/v1/deals/${id}/guidance`, 200));
      fs.writeFileSync(path.join(dir, `${id}.checklist.json`), await get(`/v1/deals/${id}/checklist`, 200));
    }
    fs.writeFileSync(path.join(dir, `${MISSING}.guidance.404.json`), await get(`/v1/deals/${MISSING}/guidance`, 404));
    fs.writeFileSync(path.join(dir, "index.json"), JSON.stringify(index, null, 2) + "\n");
  } finally {
    await new Promise((resolve) => {
      child.once("exit", resolve);
      child.kill("SIGTERM");
    });
    fs.rmSync(work, { recursive: true, force: true });
  }
}

async function main() {
  const i = process.argv.indexOf("--record");
  if (i > 0) {
    await record(path.resolve(process.argv[i + 1]));
    return 0;
  }
  const kit = path.join(SRC, "integrations/salesforce");
  const jest = path.join(kit, "node_modules/.bin/sfdx-lwc-jest");
  if (!fs.existsSync(jest)) {
    throw new Error(`${jest} is missing: run scripts/setup.sh (npm ci in integrations/salesforce)`);
  }
  const fixtures = fs.mkdtempSync(path.join(os.tmpdir(), "dealcoach-lwc-fixtures-"));
  try {
    await record(fixtures);
    const r = spawnSync(jest, ["--", "--ci", "--verbose"], {
      cwd: kit, stdio: "inherit", env: { ...process.env, DEALCOACH_LWC_FIXTURES: fixtures },
    });
    if (r.error) throw r.error;
    return r.status ?? 1;
  } finally {
    fs.rmSync(fixtures, { recursive: true, force: true });
  }
}

main().then((code) => process.exit(code), (e) => {
  console.error(`lwc_jest: ${e.message}`);
  process.exit(1);
});
