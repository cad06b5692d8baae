// <dealcoach-panel deal-id="..." [mode="manager" [rep-id="..."]] [base-url="https://sidecar"]>
//
// The coaching panel a rep reads in a glance on the deal page: where the deal really
// is (evidence vs. the CRM stage), the next gate's criteria (met / not met / not
// recorded, with what to do), the top behaviors with their why and content links, the
// risks, and how fresh the data is. mode="manager" adds the review checklist with the
// question to ask for every open item and, given the deal owner's rep-id, the rep's 1:1
// coaching agenda (the recurring gap to focus on, its questions, deals to practice on).
//
// A standard Custom Element with no framework and no build step: the sidecar serves
// this file as is (sidecar/http embeds web/panel/). Styles live in panel.css inside the
// shadow root, so a CRM page's CSS cannot break the panel nor the panel the page.
// Every CRM string is set with textContent (never innerHTML), so a deal named
// "<img src=x onerror=...>" is shown as text; links are kept only for http(s) URLs.
//
// Data: GET {base-url}/v1/deals/{id}/guidance (and /checklist, /v1/reps/{rep}/agenda), the sidecar's
// HTTP/JSON API (docs/http-api.md). A kit may replace the transport by setting
// `panel.fetcher = (path) => Promise<{status, ok, json()}>` (e.g. through a CRM
// proxy) before or after the element connects.

const STATUS = {
  CRITERION_STATUS_MET: { key: "met", icon: "\u2713", label: "Met" },
  CRITERION_STATUS_UNMET: { key: "unmet", icon: "\u2717", label: "Not met" },
  CRITERION_STATUS_UNKNOWN: { key: "unknown", icon: "?", label: "Not recorded" },
};
const SEVERITY = {
  RISK_SEVERITY_HIGH: "High",
  RISK_SEVERITY_MEDIUM: "Medium",
  RISK_SEVERITY_LOW: "Low",
};
const RETRY_MS = 3000;

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = String(v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false || c === "") continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function safeUrl(url) {
  try {
    const u = new URL(url);
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
  } catch {
    return null;
  }
}

function ago(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

// "Why am I seeing this?": rule, facts, playbook revision.
function why(rule, facts, playbook) {
  const list = el("ul", { class: "facts" });
  for (const f of facts || []) {
    list.append(
      el("li", {}, el("code", { text: f.path }), " = ", f.missing ? "not recorded" : f.value || ""),
    );
  }
  const ref = playbook
    ? `${playbook.name}@${playbook.version || 0}${playbook.revision ? ` (${playbook.revision.slice(0, 8)})` : ""}`
    : rule && rule.playbook
      ? `${rule.playbook}@${rule.version || 0}`
      : "";
  return el(
    "details",
    { class: "why" },
    el("summary", { text: "Why am I seeing this?" }),
    el("p", {}, "Rule ", el("code", { text: (rule && rule.id) || "?" }), ref ? ` in playbook ${ref}` : ""),
    list.childElementCount ? list : null,
  );
}

class DealcoachPanel extends HTMLElement {
  static get observedAttributes() {
    return ["deal-id", "mode", "rep-id", "base-url", "refresh-seconds"];
  }

  constructor() {
    super();
    this._root = this.attachShadow({ mode: "open" });
    this._fetcher = null;
    this._retry = null;
    this._generation = 0;
    // A fetcher set on the element before this script defined it is an own property
    // that would hide the setter: take it over here, since an upgrade runs
    // attributeChangedCallback (and so load) before connectedCallback.
    if (Object.prototype.hasOwnProperty.call(this, "fetcher")) {
      const fn = this.fetcher;
      delete this.fetcher;
      this._fetcher = fn;
    }
  }

  set fetcher(fn) {
    this._fetcher = fn;
    if (this.isConnected) this.load();
  }

  get base() {
    return (this.getAttribute("base-url") || "").replace(/\/+$/, "");
  }

  connectedCallback() {
    if (this.hasAttribute("from-query")) {
      // The sidecar's own page (/panel?deal=ID&mode=manager).
      const q = new URLSearchParams(window.location.search);
      if (q.get("deal")) this.setAttribute("deal-id", q.get("deal"));
      if (q.get("mode")) this.setAttribute("mode", q.get("mode"));
      if (q.get("rep")) this.setAttribute("rep-id", q.get("rep"));
      if (q.get("refresh")) this.setAttribute("refresh-seconds", q.get("refresh"));
    }
    this.load();
  }

  disconnectedCallback() {
    clearTimeout(this._retry);
    clearTimeout(this._refresh);
  }

  // Re-reads the guidance every refresh-seconds (default 60; the ETag makes an
  // unchanged answer a 304), so a panel left open follows the deal and notices when
  // dealcoach goes away.
  _scheduleRefresh() {
    clearTimeout(this._refresh);
    const s = Number(this.getAttribute("refresh-seconds") || 60);
    if (s > 0) this._refresh = setTimeout(() => this.load(), s * 1000);
  }

  attributeChangedCallback(_name, oldValue, newValue) {
    if (oldValue !== newValue && this.isConnected) this.load();
  }

  _get(path) {
    if (this._fetcher) return this._fetcher(path);
    return fetch(`${this.base}${path}`, { headers: { Accept: "application/json" } });
  }

  _frame(state, ...children) {
    const style = el("link", { rel: "stylesheet", href: `${this.base}/ui/panel.css` });
    const body = el("article", { class: "panel", "data-state": state, "aria-busy": state === "loading" ? "true" : "false" }, ...children);
    this._root.replaceChildren(style, body);
    this.dataset.state = state;
    return body;
  }

  _message(state, title, text, withRetry) {
    const box = el(
      "div",
      { class: `message ${state}`, role: state === "loading" ? "status" : "alert" },
      el("p", { class: "message-title", text: title }),
      text ? el("p", { text }) : null,
    );
    if (withRetry) {
      const b = el("button", { type: "button", text: "Try again" });
      b.addEventListener("click", () => this.load());
      box.append(b);
    }
    this._frame(state, box);
  }

  async load() {
    clearTimeout(this._retry);
    clearTimeout(this._refresh);
    const id = this.getAttribute("deal-id");
    const gen = ++this._generation;
    if (!id) {
      this._message("error", "No deal selected", "Open the panel from a deal page (deal-id is empty).");
      return;
    }
    if (!this._root.querySelector("[data-state=ready]")) {
      this._message("loading", "Loading coaching for this deal\u2026", "");
    }
    const enc = encodeURIComponent(id);
    const manager = this.getAttribute("mode") === "manager";
    let guidance;
    let checklist = null;
    let agenda = null;
    try {
      const res = await this._get(`/v1/deals/${enc}/guidance`);
      if (gen !== this._generation) return;
      if (!res.ok) {
        const err = await res.json().catch(() => ({}));
        if (res.status === 404) {
          this._message("not-found", "Deal not found", `dealcoach has no deal with id \u201c${id}\u201d in the CRM. ${err.message || ""}`.trim());
        } else {
          this._message("error", "dealcoach could not coach this deal", err.message || `HTTP ${res.status}`, true);
        }
        return;
      }
      guidance = (await res.json()).guidance || {};
      if (manager) {
        const cr = await this._get(`/v1/deals/${enc}/checklist`);
        if (cr.ok) checklist = (await cr.json()).checklist || null;
        const rep = this.getAttribute("rep-id");
        if (rep) {
          const ar = await this._get(`/v1/reps/${encodeURIComponent(rep)}/agenda`);
          if (ar.ok) agenda = await ar.json();
        }
      }
    } catch {
      if (gen !== this._generation) return;
      // Network failure: the sidecar is down or unreachable. Keep retrying, so the panel
      // recovers by itself when it is back.
      this._message("offline", "Can't reach dealcoach", "Retrying in a few seconds\u2026", true);
      this._retry = setTimeout(() => this.load(), RETRY_MS);
      return;
    }
    if (gen !== this._generation) return;
    this._render(guidance, checklist, agenda);
    this._scheduleRefresh();
    this.dispatchEvent(new CustomEvent("dealcoach-rendered", { detail: { guidance, checklist, agenda } }));
  }

  _render(g, checklist, agenda) {
    const pb = g.playbook;
    const evidence = g.evidencePhase || {};
    const claimed = g.claimedPhase || null;

    const header = el(
      "header",
      {},
      el("h2", { id: "deal-name", class: "deal-name", text: g.opportunityName || g.opportunityId || "Deal" }),
      el("p", { class: "meta" }, "CRM stage ", el("strong", { text: g.crmStage || "not set" })),
    );

    // Journey: every phase we know of, in playbook order.
    const phases = new Map();
    for (const gate of g.gates || []) phases.set(gate.phase.id, { ...gate.phase, gate: gate.status });
    if (evidence.id) phases.set(evidence.id, { ...(phases.get(evidence.id) || {}), ...evidence });
    if (claimed && claimed.id) phases.set(claimed.id, { ...(phases.get(claimed.id) || {}), ...claimed });
    const ordered = [...phases.values()].sort((a, b) => (a.index || 0) - (b.index || 0));
    const bar = el("ol", { class: "phases", "aria-label": "Customer journey phases" });
    let prev = null;
    for (const p of ordered) {
      // Phases the answer does not mention (past the evidence gate, before the claimed
      // phase) are shown as a gap, so the bar never suggests two phases are adjacent.
      const skipped = prev === null ? 0 : (p.index || 0) - (prev.index || 0) - 1;
      if (skipped > 0) {
        bar.append(el("li", { class: "phase gap" }, el("span", { "aria-hidden": "true", text: "\u2026" }),
          el("span", { class: "visually-hidden", text: `${skipped} more phase${skipped === 1 ? "" : "s"}` })));
      }
      prev = p;
      const isEvidence = p.id === evidence.id;
      const isClaimed = claimed && p.id === claimed.id;
      const passed = (p.index || 0) < (evidence.index || 0);
      const tags = [];
      if (passed) tags.push("gate met");
      if (isEvidence) tags.push("evidence");
      if (isClaimed) tags.push("CRM stage");
      bar.append(
        el(
          "li",
          {
            class: ["phase", passed ? "passed" : "", isEvidence ? "evidence" : "", isClaimed ? "claimed" : ""].join(" ").trim(),
            "data-phase": p.id,
            "aria-current": isEvidence ? "step" : null,
          },
          el("span", { class: "phase-name", text: p.name || p.id }),
          tags.length ? el("span", { class: "phase-tag", text: tags.join(" \u00b7 ") }) : null,
        ),
      );
    }
    const journey = el(
      "section",
      { class: "journey", "aria-labelledby": "journey-h" },
      el("h3", { id: "journey-h", text: "Where the deal really is" }),
      el("p", { class: "summary" }, "Evidence says ", el("strong", { class: "evidence-phase", text: evidence.name || evidence.id || "unknown" }),
        claimed && claimed.id !== evidence.id ? [" \u00b7 CRM stage claims ", el("strong", { class: "claimed-phase", text: claimed.name || claimed.id })] : ""),
      bar,
    );
    if (g.stageAheadOfEvidence) {
      journey.append(el("p", { class: "warning", role: "note" }, el("span", { class: "warning-icon", "aria-hidden": "true", text: "\u26a0" }), " ", g.stageAheadOfEvidence.message || "Stage ahead of evidence"));
    }

    // The next gate: the evidence phase's exit gate.
    const gates = g.gates || [];
    const gate = gates.find((x) => x.phase && x.phase.id === evidence.id) || gates[gates.length - 1];
    let gateSection = null;
    if (gate) {
      const list = el("ul", { class: "criteria" });
      for (const c of gate.criteria || []) {
        const st = STATUS[c.status] || STATUS.CRITERION_STATUS_UNKNOWN;
        const item = el(
          "li",
          { class: `criterion ${st.key}`, "data-status": st.key, "data-rule": c.rule && c.rule.id },
          el("span", { class: "badge", "aria-hidden": "true", text: st.icon }),
          el("span", { class: "status-label", text: `${st.label}: ` }),
          el("span", { class: "criterion-text", text: c.text || "" }),
        );
        if (st.key === "unknown" && (c.missingFields || []).length) {
          item.append(el("p", { class: "missing" }, "Not recorded in the CRM: ", el("code", { text: c.missingFields.join(", ") })));
        }
        if (st.key !== "met" && c.hint) item.append(el("p", { class: "hint" }, el("span", { "aria-hidden": "true", text: "\u2192 " }), c.hint));
        item.append(why(c.rule, c.facts, pb));
        list.append(item);
      }
      gateSection = el(
        "section",
        { class: "gate", "aria-labelledby": "gate-h" },
        el("h3", { id: "gate-h", text: `Next gate: leaving ${gate.phase.name || gate.phase.id}` }),
        list,
      );
    }

    // Top behaviors.
    const behaviors = g.nextBestBehaviors || [];
    const bl = el("ol", { class: "behaviors" });
    for (const b of behaviors) {
      const links = el("ul", { class: "links", "aria-label": "Enablement content" });
      for (const c of b.content || []) {
        const href = safeUrl(c.url);
        links.append(el("li", {}, href ? el("a", { href, target: "_blank", rel: "noopener noreferrer", text: c.title || href }) : el("span", { text: c.title || "" })));
      }
      bl.append(
        el(
          "li",
          { class: "behavior", "data-rule": b.rule && b.rule.id },
          el("p", { class: "prompt", text: b.prompt || "" }),
          b.why ? el("p", { class: "because" }, el("span", { class: "label", text: "Why: " }), b.why) : null,
          links.childElementCount ? links : null,
          why(b.rule, b.facts, pb),
        ),
      );
    }
    const behaviorSection = el(
      "section",
      { class: "next", "aria-labelledby": "next-h" },
      el("h3", { id: "next-h", text: "Top next steps" }),
      behaviors.length ? bl : el("p", { class: "empty", text: "Nothing to do right now: the evidence supports this phase." }),
      g.moreBehaviors ? el("p", { class: "more", text: `${g.moreBehaviors} more behavior${g.moreBehaviors === 1 ? "" : "s"} fired; the top ones are shown.` }) : null,
    );

    // Risks.
    const risks = g.risks || [];
    const rl = el("ul", { class: "risks" });
    for (const r of risks) {
      const sev = SEVERITY[r.severity] || "Risk";
      rl.append(
        el(
          "li",
          { class: `risk ${sev.toLowerCase()}`, "data-rule": r.rule && r.rule.id },
          el("span", { class: "severity", text: sev }),
          " ",
          el("span", { class: "risk-text", text: r.text || "" }),
          why(r.rule, r.facts, pb),
        ),
      );
    }
    const riskSection = el(
      "section",
      { class: "risks-section", "aria-labelledby": "risks-h" },
      el("h3", { id: "risks-h", text: "Risks" }),
      risks.length ? rl : el("p", { class: "empty", text: "No risks found." }),
    );

    let checklistSection = null;
    if (checklist) {
      const cl = el("ul", { class: "checklist" });
      for (const it of checklist.items || []) {
        const st = STATUS[it.status] || STATUS.CRITERION_STATUS_UNKNOWN;
        cl.append(
          el(
            "li",
            { class: `check ${st.key}`, "data-status": st.key },
            el("span", { class: "badge", "aria-hidden": "true", text: st.icon }),
            el("span", { class: "status-label", text: `${st.label}: ` }),
            el("span", { class: "check-text", text: it.text || "" }),
            st.key !== "met" && it.coachingQuestion ? el("p", { class: "ask" }, el("span", { class: "label", text: "Ask: " }), it.coachingQuestion) : null,
            why(it.rule, it.facts, checklist.playbook),
          ),
        );
      }
      checklistSection = el(
        "section",
        { class: "review", "aria-labelledby": "review-h" },
        el("h3", { id: "review-h", text: `Review checklist \u00b7 ${checklist.openItems || 0} open` }),
        cl,
      );
    }

    let agendaSection = null;
    if (agenda) {
      const focus = agenda.focus;
      const rep = (agenda.rep && (agenda.rep.name || agenda.rep.id)) || "the rep";
      const body = [];
      if (focus) {
        const qs = el("ul", { class: "questions", "aria-label": "Questions for the 1:1" });
        for (const q of focus.questions || []) qs.append(el("li", { text: q }));
        body.push(
          el("p", { class: "focus" }, el("span", { class: "label", text: "Focus: " }), el("span", { class: "focus-text", text: focus.text || focus.ruleId || "" })),
          focus.why ? el("p", { class: "because" }, el("span", { class: "label", text: "Why: " }), focus.why) : null,
          qs.childElementCount ? qs : null,
        );
      } else {
        body.push(el("p", { class: "empty", text: "No recurring gap across this rep's deals." }));
      }
      const others = (agenda.otherGaps || []).map((x) => el("li", { class: "gap-text", text: x.text || x.ruleId || "" }));
      if (others.length) body.push(el("p", { class: "label", text: "Also open:" }), el("ul", { class: "other-gaps" }, others));
      const cases = (agenda.practiceCases || []).map((c) => el("li", { class: "practice", text: c.name || c.opportunityId || (c.deal && (c.deal.name || c.deal.opportunityId)) || "" }));
      if (cases.length) body.push(el("p", { class: "label", text: "Practice it on:" }), el("ul", { class: "practice-cases" }, cases));
      agendaSection = el(
        "section",
        { class: "agenda", "aria-labelledby": "agenda-h" },
        el("h3", { id: "agenda-h", text: `1:1 agenda with ${rep}` }),
        ...body,
      );
    }

    const fr = g.freshness || {};
    const footer = el(
      "footer",
      {},
      el("p", { class: "freshness" }, `Data from ${fr.source || "the CRM"}`, fr.fetchedAt ? `, fetched ${ago(fr.fetchedAt)}` : "",
        pb ? ` \u00b7 playbook ${pb.name}@${pb.version || 0}` : ""),
      fr.stale ? el("p", { class: "stale", role: "note", text: `Data may be out of date: ${fr.staleReason || "the CRM could not be reached"}` }) : null,
      fr.partial ? el("p", { class: "stale partial", role: "note", text: `Data may be incomplete: ${fr.partialReason || "the last CRM sync did not finish"}` }) : null,
    );

    this._frame(
      "ready",
      header,
      el("div", { class: "grid" }, journey, gateSection, behaviorSection, riskSection, checklistSection, agendaSection),
      footer,
    ).setAttribute("aria-labelledby", "deal-name");
  }
}

if (!customElements.get("dealcoach-panel")) customElements.define("dealcoach-panel", DealcoachPanel);
export { DealcoachPanel };
