// The CRM kits' files, checked as far as they can be without the CRMs: what a new admin
// following each README would feed to Salesforce, HubSpot and Dynamics must at least be
// well-formed and consistent (names the code refers to exist, the LWC is exposed on the
// Opportunity record page, the HubSpot card's entry point exists, dependencies pinned).
// What only the CRMs can check (deploying, the Apex test, `hs project upload`) is listed
// in each kit's README.
//
// Run by ctest (kits_metadata) as `node --test kits.test.mjs` with DEALCOACH_SOURCE_DIR.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const SRC = process.env.DEALCOACH_SOURCE_DIR;
const KITS = path.join(SRC, "integrations");

function walk(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name === "__tests__") continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

// xmllint (libxml2-utils) for well-formedness; values read with --xpath.
function xpath(file, expr) {
  const r = spawnSync("xmllint", ["--xpath", expr, file], { encoding: "utf8" });
  if (r.error) throw new Error(`xmllint: ${r.error.message} (scripts/setup.sh installs libxml2-utils)`);
  return r.status === 0 ? r.stdout.trim() : "";
}
// Metadata API files use a default namespace; local-name() avoids binding it.
const el = (...names) => names.map((n) => `/*[local-name()='${n}']`).join("");

const sf = path.join(KITS, "salesforce");
const sfMain = path.join(sf, "force-app/main/default");

test("salesforce: every metadata file is well-formed XML in the Metadata API namespace", () => {
  const xml = walk(sf).filter((f) => f.endsWith(".xml"));
  assert.ok(xml.length >= 5, xml.join(", "));
  for (const f of xml) {
    const r = spawnSync("xmllint", ["--noout", f], { encoding: "utf8" });
    assert.equal(r.status, 0, `${f}: ${r.stderr}`);
    assert.match(fs.readFileSync(f, "utf8"), /xmlns="http:\/\/soap\.sforce\.com\/2006\/04\/metadata"/, f);
  }
});

test("salesforce: the LWC is exposed on the Opportunity record page and calls existing Apex methods", () => {
  const project = JSON.parse(fs.readFileSync(path.join(sf, "sfdx-project.json"), "utf8"));
  assert.ok(project.packageDirectories.some((d) => d.path === "force-app" && d.default));
  const lwc = path.join(sfMain, "lwc/dealcoachPanel");
  const meta = path.join(lwc, "dealcoachPanel.js-meta.xml");
  const B = el("LightningComponentBundle");
  assert.equal(xpath(meta, `string(${B}${el("isExposed")})`), "true");
  assert.equal(xpath(meta, `string(${B}${el("apiVersion")})`), project.sourceApiVersion);
  assert.equal(xpath(meta, `string(${B}${el("targets", "target")})`), "lightning__RecordPage");
  assert.equal(xpath(meta, `string(${B}${el("targetConfigs", "targetConfig", "objects", "object")})`), "Opportunity");
  const js = fs.readFileSync(path.join(lwc, "dealcoachPanel.js"), "utf8");
  assert.match(js, /@api recordId/);
  // Every @salesforce/apex import names a public static @AuraEnabled method of a class here.
  const imports = [...js.matchAll(/from "@salesforce\/apex\/(\w+)\.(\w+)"/g)];
  assert.ok(imports.length >= 1);
  for (const [, cls, method] of imports) {
    const file = path.join(sfMain, "classes", `${cls}.cls`);
    assert.ok(fs.existsSync(file), `${cls}.cls`);
    const src = fs.readFileSync(file, "utf8");
    assert.match(src, new RegExp(`@AuraEnabled\\(cacheable=true\\)\\s+public static String ${method}\\(`), `${cls}.${method}`);
  }
  // The managerMode design property matches the component's @api property.
  const prop = xpath(meta, `string(//*[local-name()='property']/@name)`);
  assert.ok(js.includes(`@api ${prop}`), prop);
});

test("salesforce: classes have their meta files, the Named Credential and permission set match the code", () => {
  const classes = fs.readdirSync(path.join(sfMain, "classes")).filter((f) => f.endsWith(".cls"));
  for (const c of classes) {
    const meta = path.join(sfMain, "classes", `${c}-meta.xml`);
    assert.ok(fs.existsSync(meta), meta);
    assert.equal(xpath(meta, `string(${el("ApexClass", "status")})`), "Active");
  }
  assert.ok(classes.includes("DealcoachControllerTest.cls"));
  assert.match(fs.readFileSync(path.join(sfMain, "classes/DealcoachControllerTest.cls"), "utf8"), /@IsTest/);
  const controller = fs.readFileSync(path.join(sfMain, "classes/DealcoachController.cls"), "utf8");
  const credential = controller.match(/'callout:(\w+)'/)[1];
  const nc = path.join(sfMain, "namedCredentials", `${credential}.namedCredential-meta.xml`);
  assert.ok(fs.existsSync(nc), `the Named Credential the controller calls (${credential})`);
  assert.match(xpath(nc, `string(${el("NamedCredential", "endpoint")})`), /^https:\/\//);
  const ps = path.join(sfMain, "permissionsets/Dealcoach_User.permissionset-meta.xml");
  const P = el("PermissionSet", "classAccesses");
  assert.equal(xpath(ps, `string(${P}${el("apexClass")})`), "DealcoachController");
  assert.equal(xpath(ps, `string(${P}${el("enabled")})`), "true");
  // The Jest tests and their fixtures stay out of the org.
  assert.match(fs.readFileSync(path.join(sf, ".forceignore"), "utf8"), /^\*\*\/__tests__\/\*\*$/m);
});

test("salesforce: the Jest tooling is pinned with a committed lockfile", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(sf, "package.json"), "utf8"));
  const lock = JSON.parse(fs.readFileSync(path.join(sf, "package-lock.json"), "utf8"));
  const v = pkg.devDependencies["@salesforce/sfdx-lwc-jest"];
  assert.match(v, /^\d+\.\d+\.\d+$/);
  assert.equal(lock.packages["node_modules/@salesforce/sfdx-lwc-jest"].version, v);
});

const hs = path.join(KITS, "hubspot");

test("hubspot: the project and its components are valid JSON that point at files that exist", () => {
  const project = JSON.parse(fs.readFileSync(path.join(hs, "hsproject.json"), "utf8"));
  assert.ok(project.name && project.srcDir && project.platformVersion, JSON.stringify(project));
  assert.match(project.platformVersion, /^\d{4}\.\d$/);
  const src = path.join(hs, project.srcDir);
  const metas = walk(src).filter((f) => f.endsWith("-hsmeta.json")).map((f) => ({ f, j: JSON.parse(fs.readFileSync(f, "utf8")) }));
  const app = metas.find((m) => m.j.type === "app");
  const card = metas.find((m) => m.j.type === "card");
  assert.ok(app && card, "an app and a card");
  for (const { f, j } of metas) assert.match(j.uid, /^[A-Za-z0-9_-]+$/, f);
  // The card: a deal record tab whose entry point exists under the project's src.
  assert.ok(card.j.config.objectTypes.includes("deals"));
  assert.match(card.j.config.location, /^crm\.record\.(tab|sidebar)$/);
  const entry = path.join(src, card.j.config.entrypoint);
  assert.ok(fs.existsSync(entry), entry);
  // The card fetches only the sidecar URL the app allow-lists, through hubspot.fetch.
  const jsx = fs.readFileSync(entry, "utf8");
  const sidecar = jsx.match(/const SIDECAR = "([^"]+)"/)[1];
  assert.ok(app.j.config.permittedUrls.fetch.includes(sidecar), `${sidecar} in permittedUrls.fetch`);
  assert.match(jsx, /hubspot\s*\.fetch\(/);
  assert.doesNotMatch(jsx, /[^.]\bfetch\(|XMLHttpRequest/, "no fetch other than hubspot.fetch");
  for (const [, mod] of jsx.matchAll(/from "([^"]+)"/g)) {
    assert.ok(["react", "@hubspot/ui-extensions"].includes(mod), `the card imports ${mod}`);
  }
  // Dependencies pinned: HubSpot's build installs them at upload.
  const pkg = JSON.parse(fs.readFileSync(path.join(path.dirname(entry), "package.json"), "utf8"));
  for (const [name, v] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
    assert.match(v, /^\d+\.\d+\.\d+$/, `${name}@${v} is not pinned`);
  }
});

const dyn = path.join(KITS, "dynamics");

test("dynamics: the web resources reference each other by the names the README gives", () => {
  const readme = fs.readFileSync(path.join(dyn, "README.md"), "utf8");
  const html = fs.readFileSync(path.join(dyn, "WebResources/dealcoach_panel.html"), "utf8");
  for (const page of ["dealcoach_panel.html", "dealcoach_panel_customapi.html"]) {
    const text = fs.readFileSync(path.join(dyn, "WebResources", page), "utf8");
    assert.ok(readme.includes(page), `README names ${page}`);
    for (const [, s] of text.matchAll(/<script (?:type="module" )?src="([^"]+)"/g)) {
      // dealcoach_/ui/* are the panel's own files (web/panel/), uploaded under that name.
      const file = s.startsWith("dealcoach_/ui/") ? path.join(SRC, "web/panel", s.slice(14)) : path.join(dyn, "WebResources", s);
      assert.ok(fs.existsSync(file), `${page} loads ${s}`);
      assert.ok(readme.includes(s), `README names ${s}`);
    }
    assert.doesNotMatch(text, /<script>(?!<\/script>)|\son[a-z]+="/, `${page}: no inline script`);
  }
  // The Custom API the boot script calls is the one the plug-in and README describe.
  const boot2 = fs.readFileSync(path.join(dyn, "WebResources/dealcoach_panel_customapi_boot.js"), "utf8");
  const plugin = fs.readFileSync(path.join(dyn, "CustomApi/DealcoachGuidancePlugin.cs"), "utf8");
  const api = boot2.match(/\/api\/data\/v9\.2\/(\w+)"/)[1];
  assert.ok(plugin.includes(api) && readme.includes(api), api);
  for (const p of ["Path", "StatusCode", "Body"]) {
    assert.ok(plugin.includes(`"${p}"`) && boot2.includes(p) && readme.includes(`\`${p}\``), p);
  }
  const boot = fs.readFileSync(path.join(dyn, "WebResources/dealcoach_panel_boot.js"), "utf8");
  assert.match(boot, /getElementById\("panel"\)/);
  assert.match(html, /<dealcoach-panel id="panel">/);
  const form = fs.readFileSync(path.join(dyn, "WebResources/dealcoach_form.js"), "utf8");
  const control = form.match(/getControl\("(\w+)"\)/)[1];
  assert.ok(readme.includes(control), `README names the control ${control}`);
  // No inline script: the org's CSP and the panel's own forbid it.
  assert.doesNotMatch(html, /<script>(?!<\/script>)|\son[a-z]+="/);
});

test("dynamics: the plug-in's project builds the class the README registers, with pinned packages", () => {
  const readme = fs.readFileSync(path.join(dyn, "README.md"), "utf8");
  const proj = path.join(dyn, "CustomApi/DealcoachGuidancePlugin.csproj");
  const r = spawnSync("xmllint", ["--noout", proj], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(readme.includes("CustomApi/DealcoachGuidancePlugin.csproj"), "README names the project");
  // Dataverse's sandbox runs .NET Framework 4.6.2 plug-ins, strong-named.
  assert.equal(xpath(proj, "string(/Project/PropertyGroup/TargetFramework)"), "net462");
  assert.equal(xpath(proj, "string(/Project/PropertyGroup/SignAssembly)"), "true");
  const key = xpath(proj, "string(/Project/PropertyGroup/AssemblyOriginatorKeyFile)");
  assert.match(fs.readFileSync(path.join(dyn, "CustomApi/.gitignore"), "utf8"), /^\*\.snk$/m, `${key} stays out of git`);
  const refs = xpath(proj, "/Project/ItemGroup/PackageReference").match(/<PackageReference [^>]+>/g);
  assert.ok(refs.some((x) => x.includes('Include="Microsoft.CrmSdk.CoreAssemblies"')));
  for (const ref of refs) assert.match(ref, /Version="\d+(\.\d+){2,3}"/, `${ref} is not pinned`);
  // The type the README registers on the Custom API is the plug-in class in the .cs file.
  const cs = fs.readFileSync(path.join(dyn, "CustomApi/DealcoachGuidancePlugin.cs"), "utf8");
  const ns = cs.match(/^namespace ([\w.]+)/m)[1];
  const cls = cs.match(/public sealed class (\w+) : IPlugin/)[1];
  assert.ok(readme.includes(`\`${ns}.${cls}\``), `README registers ${ns}.${cls}`);
  assert.equal(xpath(proj, "string(/Project/PropertyGroup/RootNamespace)"), ns);
});

test("hubspot: the card is linted with HubSpot's own UI-extension rules", () => {
  const cards = path.join(hs, "src/app/cards");
  const cfg = fs.readFileSync(path.join(cards, "eslint.config.mjs"), "utf8");
  assert.match(cfg, /from "@hubspot\/eslint-config-ui-extensions"/);
  const pkg = JSON.parse(fs.readFileSync(path.join(cards, "package.json"), "utf8"));
  assert.ok(pkg.devDependencies["@hubspot/eslint-config-ui-extensions"] && pkg.devDependencies.eslint);
  assert.equal(pkg.scripts.lint, "eslint .");
});

test("every file a kit's README names exists", () => {
  for (const kit of ["salesforce", "hubspot", "dynamics"]) {
    const dir = path.join(KITS, kit);
    const readme = fs.readFileSync(path.join(dir, "README.md"), "utf8");
    const named = new Set([...readme.matchAll(/(?:^|[\s`(])([A-Za-z_][A-Za-z0-9_./-]*\/[A-Za-z0-9_.-]+\.(?:html|js|jsx|mjs|cs|csproj|css|md|json|xml|cls|yaml))(?![A-Za-z0-9])/g)]
      .map((m) => m[1]).filter((p) => !p.startsWith("dealcoach_/")));  // web resource names, not files
    assert.ok(named.size >= 3, `${kit}: ${[...named]}`);
    const bases = [dir, path.join(dir, "force-app/main/default"), SRC];
    for (const p of named) {
      assert.ok(bases.some((b) => fs.existsSync(path.join(b, p))), `${kit}/README.md names ${p}, which does not exist`);
    }
  }
});
