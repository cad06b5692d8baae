// The view model of dealcoachPanel: the sidecar's proto3 JSON answer (docs/http-api.md)
// turned into plain data for the template, which takes no expressions. No Salesforce
// imports, so tests/browser checks it against a live sidecar's answers with plain Node.
const STATUS = {
    CRITERION_STATUS_MET: { label: "Met", icon: "utility:success", variant: "success" },
    CRITERION_STATUS_UNMET: { label: "Not met", icon: "utility:close", variant: "error" },
    CRITERION_STATUS_UNKNOWN: { label: "Not recorded", icon: "utility:help", variant: "warning" }
};
const SEVERITY = { RISK_SEVERITY_HIGH: "High", RISK_SEVERITY_MEDIUM: "Medium", RISK_SEVERITY_LOW: "Low" };

function safeUrl(url) {
    try {
        const u = new URL(url);
        return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
    } catch (e) {
        return null;
    }
}

export function errorText(error) {
    if (!error) return "";
    if (error.body && error.body.message) return error.body.message;
    return error.message || "dealcoach could not be reached";
}

export function toViewModel(g) {
    const evidence = g.evidencePhase || {};
    const gate = (g.gates || []).find((x) => x.phase && x.phase.id === evidence.id);
    const pb = g.playbook || {};
    return {
        name: g.opportunityName || g.opportunityId,
        crmStage: g.crmStage || "not set",
        evidencePhase: evidence.name || evidence.id || "unknown",
        claimedPhase: g.claimedPhase && g.claimedPhase.id !== evidence.id ? g.claimedPhase.name : null,
        warning: g.stageAheadOfEvidence ? g.stageAheadOfEvidence.message : null,
        gateTitle: gate ? `Next gate: leaving ${gate.phase.name || gate.phase.id}` : null,
        criteria: (gate ? gate.criteria : []).map((c, i) => {
            const st = STATUS[c.status] || STATUS.CRITERION_STATUS_UNKNOWN;
            return {
                key: `c${i}`,
                text: c.text,
                label: st.label,
                icon: st.icon,
                variant: st.variant,
                hint: c.status !== "CRITERION_STATUS_MET" ? c.hint : null,
                missing: (c.missingFields || []).join(", ") || null,
                rule: c.rule ? c.rule.id : ""
            };
        }),
        behaviors: (g.nextBestBehaviors || []).map((b, i) => ({
            key: `b${i}`,
            number: i + 1,
            prompt: b.prompt,
            why: b.why,
            rule: b.rule ? b.rule.id : "",
            links: (b.content || [])
                .map((c, j) => ({ key: `l${i}-${j}`, title: c.title, url: safeUrl(c.url) }))
                .filter((l) => l.url)
        })),
        risks: (g.risks || []).map((r, i) => ({
            key: `r${i}`,
            severity: SEVERITY[r.severity] || "Risk",
            text: r.text,
            rule: r.rule ? r.rule.id : ""
        })),
        hasRisks: (g.risks || []).length > 0,
        freshness: `Data from ${(g.freshness && g.freshness.source) || "the CRM"} · playbook ${pb.name}@${pb.version || 0}`,
        stale: g.freshness && g.freshness.stale ? g.freshness.staleReason || "the CRM could not be reached" : null
    };
}

export function toChecklistModel(c) {
    return {
        title: `Review checklist · ${c.openItems || 0} open`,
        items: (c.items || []).map((it, i) => {
            const st = STATUS[it.status] || STATUS.CRITERION_STATUS_UNKNOWN;
            return {
                key: `k${i}`,
                text: it.text,
                label: st.label,
                icon: st.icon,
                variant: st.variant,
                ask: it.status !== "CRITERION_STATUS_MET" ? it.coachingQuestion : null
            };
        })
    };
}

