// Validates the deployment artifacts a cluster operator applies:
//   - every object in deploy/k8s/*.yaml against the Kubernetes API's own JSON schemas
//     (kubernetes-models, generated from the Kubernetes OpenAPI spec);
//   - the operational rules docs/production.md promises (2+ replicas, probes on
//     grpc.health.v1, resource requests, non-root, headless Service, HPA floor >= 2,
//     every kustomization resource present, no Secret with real values);
//   - the Dockerfile: multi-stage, Debian 12 bases, built by the project's own
//     scripts/setup.sh, running as a non-root numeric user.
// Exit 0 when all pass; otherwise one line per problem and exit 1.
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { DockerfileParser } from "dockerfile-ast";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const k8sDir = join(root, "deploy", "k8s");
const problems = [];
const fail = (where, what) => problems.push(`${where}: ${what}`);

async function modelFor(apiVersion, kind) {
  const path = apiVersion.includes("/") ? apiVersion : `v1`;
  try {
    const mod = await import(`kubernetes-models/${path}/${kind}`);
    return mod[kind];
  } catch (e) {
    return null;
  }
}

const objects = [];
for (const file of readdirSync(k8sDir).filter((f) => f.endsWith(".yaml")).sort()) {
  const text = readFileSync(join(k8sDir, file), "utf8");
  for (const doc of YAML.parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) fail(`deploy/k8s/${file}`, `YAML: ${e.message}`);
      continue;
    }
    const obj = doc.toJS();
    if (obj == null) continue;
    objects.push({ file, obj });
  }
}

for (const { file, obj } of objects) {
  const where = `deploy/k8s/${file} (${obj.kind} ${obj.metadata?.name ?? "?"})`;
  if (obj.kind === "Kustomization") {
    for (const r of obj.resources ?? []) {
      if (!existsSync(join(k8sDir, r))) fail(where, `resource ${r} does not exist`);
    }
    continue;
  }
  const Model = await modelFor(obj.apiVersion, obj.kind);
  if (Model == null) {
    fail(where, `unknown apiVersion/kind ${obj.apiVersion}/${obj.kind}`);
    continue;
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    fail(where, `schema: ${e.message}`);
  }
}

const byKind = (kind) => objects.filter((o) => o.obj.kind === kind).map((o) => o.obj);
const [deployment] = byKind("Deployment");
if (!deployment) {
  fail("deploy/k8s", "no Deployment");
} else {
  const spec = deployment.spec;
  if (!(spec.replicas >= 2)) fail("Deployment", "replicas must be 2 or more");
  const pod = spec.template.spec;
  if (pod.securityContext?.runAsNonRoot !== true) fail("Deployment", "runAsNonRoot must be true");
  for (const c of pod.containers) {
    if (c.readinessProbe?.grpc?.port == null) fail(`container ${c.name}`, "readinessProbe must be a gRPC probe");
    if (c.readinessProbe?.grpc?.service !== "dealcoach.v1.CoachingService") {
      fail(`container ${c.name}`, "readiness must follow dealcoach.v1.CoachingService (SERVING once a playbook loaded)");
    }
    if (c.livenessProbe?.grpc?.port == null) fail(`container ${c.name}`, "livenessProbe must be a gRPC probe");
    if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory) {
      fail(`container ${c.name}`, "resources.requests.cpu and .memory are required");
    }
    if (c.securityContext?.allowPrivilegeEscalation !== false) {
      fail(`container ${c.name}`, "allowPrivilegeEscalation must be false");
    }
  }
}
const [service] = byKind("Service");
if (!service || service.spec.clusterIP !== "None") fail("Service", "must be headless (clusterIP: None) for per-call gRPC balancing");
const [hpa] = byKind("HorizontalPodAutoscaler");
if (!hpa || !(hpa.spec.minReplicas >= 2)) fail("HorizontalPodAutoscaler", "minReplicas must be 2 or more");
for (const secret of byKind("Secret")) {
  for (const [k, v] of Object.entries(secret.stringData ?? {})) {
    if (!String(v).includes("change-me")) fail(`Secret ${secret.metadata.name}`, `${k} looks like a real value; examples only`);
  }
}
const [configMap] = byKind("ConfigMap");
if (configMap) {
  const sidecar = YAML.parse(configMap.data["sidecar.yaml"]);
  if (sidecar.store?.backend !== "postgres") fail("ConfigMap", "replicas share state: store.backend must be postgres");
  if (sidecar.log_format !== "json") fail("ConfigMap", "log_format should be json for log shippers");
  if (!sidecar.admin_http?.listen) fail("ConfigMap", "admin_http.listen must be set (metrics, probes)");
}

// The Dockerfile.
const dockerfile = DockerfileParser.parse(readFileSync(join(root, "Dockerfile"), "utf8"));
const froms = dockerfile.getFROMs();
if (froms.length < 2) fail("Dockerfile", "must be multi-stage (a build stage and a runtime stage)");
for (const from of froms) {
  const image = from.getImageName() + ":" + (from.getImageTag() ?? "");
  if (!/^debian:(12|bookworm)/.test(image)) fail("Dockerfile", `base ${image} is not Debian 12`);
}
const instructions = dockerfile.getInstructions();
const runs = instructions.filter((i) => i.getKeyword() === "RUN").map((i) => i.getTextContent());
if (!runs.some((r) => r.includes("scripts/setup.sh"))) fail("Dockerfile", "the build stage must use scripts/setup.sh");
const lastFrom = instructions.lastIndexOf(froms[froms.length - 1]);
const users = instructions.slice(lastFrom).filter((i) => i.getKeyword() === "USER");
if (users.length === 0) {
  fail("Dockerfile", "the runtime stage must set USER");
} else {
  const user = users[users.length - 1].getArguments()[0]?.getValue() ?? "";
  if (user === "root" || user.startsWith("0")) fail("Dockerfile", `runtime USER ${user} is root`);
}
if (instructions.some((i) => i.getKeyword() === "ADD")) fail("Dockerfile", "use COPY, not ADD");

if (problems.length > 0) {
  for (const p of problems) console.error(p);
  process.exit(1);
}
console.log(`deploy: ${objects.length} objects valid against the Kubernetes schemas; Dockerfile ok`);
