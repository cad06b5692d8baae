// /ui/demo: every deal the sidecar knows (POST /v1/pipeline:review, scope all), ranked
// by attention, each with links to its coaching panel for the rep (/panel?deal=ID) and
// in manager mode (/panel?deal=ID&mode=manager&rep=OWNER). CRM strings are set with
// textContent only.

function cell(...children) {
  const td = document.createElement("td");
  td.append(...children.filter((c) => c !== null && c !== undefined));
  return td;
}

function link(href, text, label) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  a.setAttribute("aria-label", label);
  return a;
}

async function main() {
  const status = document.getElementById("demo-status");
  const table = document.getElementById("deals");
  let review;
  try {
    const res = await fetch("/v1/pipeline:review", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ scope: { all: true } }),
    });
    review = await res.json();
    if (!res.ok) throw new Error(review.message || `HTTP ${res.status}`);
  } catch (e) {
    status.setAttribute("role", "alert");
    status.textContent = `Can't list the deals: ${e.message}`;
    return;
  }
  const deals = review.deals || [];
  const tbody = table.querySelector("tbody");
  for (const r of deals) {
    const d = r.deal || {};
    const id = d.opportunityId || "";
    const name = d.name || id;
    const owner = d.owner || {};
    const q = `deal=${encodeURIComponent(id)}`;
    const rep = owner.id ? `&rep=${encodeURIComponent(owner.id)}` : "";
    const tr = document.createElement("tr");
    tr.className = "deal";
    tr.dataset.deal = id;
    const title = document.createElement("span");
    title.className = "deal-name";
    title.textContent = name;
    const links = document.createElement("div");
    links.className = "links";
    links.append(
      link(`/panel?${q}`, "Rep view", `${name}: rep view`),
      link(`/panel?${q}&mode=manager${rep}`, "Manager view", `${name}: manager view`),
    );
    const stage = document.createElement("span");
    stage.textContent = `${d.stage || ""}${d.claimedPhase ? ` (${d.claimedPhase.name})` : ""}`;
    const evidence = document.createElement("span");
    evidence.className = `evidence${d.stageAheadOfEvidence ? " ahead" : ""}`;
    evidence.textContent = (d.evidencePhase && d.evidencePhase.name) || "";
    if (d.stageAheadOfEvidence) evidence.textContent += ` (${r.phasesAhead || 1} behind the stage)`;
    const ownerName = document.createElement("span");
    ownerName.textContent = owner.name || owner.id || "";
    const open = document.createElement("span");
    open.textContent = String((r.openCriteria || []).length);
    const rank = document.createElement("span");
    rank.textContent = String(r.rank || "");
    const dealCell = cell(title, links);
    dealCell.className = "links";
    tr.append(cell(rank), dealCell, cell(ownerName), cell(stage), cell(evidence), cell(open));
    tbody.append(tr);
  }
  table.hidden = false;
  const closed = (review.closed || []).length;
  status.textContent = `${deals.length} open deals${closed ? ` (and ${closed} closed)` : ""} · playbook ${review.playbook ? `${review.playbook.name}@${review.playbook.version}` : "?"}`;
  document.body.dataset.state = "ready";
}

main();
