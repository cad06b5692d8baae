// dealcoachPanel mounted by @salesforce/sfdx-lwc-jest, its Apex wires fed with answers
// recorded from a real dealcoach sidecar: in ctest (kit_salesforce_lwc_jest) freshly,
// by tests/browser/lwc_jest.mjs, in DEALCOACH_LWC_FIXTURES; by hand (`npm run
// test:unit`) the committed ones in ./data, recorded the same way (`node
// tests/browser/lwc_jest.mjs --record integrations/salesforce/force-app/main/default/lwc/dealcoachPanel/__tests__/data`).
//
// DealcoachController.cls passes the sidecar's body through as a string, and turns an
// error answer into an AuraHandledException with the google.rpc.Status message, which
// the wire delivers as { body: { message } }: the tests feed the component exactly that.
import { createElement } from "lwc";
import DealcoachPanel from "c/dealcoachPanel";
import getGuidance from "@salesforce/apex/DealcoachController.getGuidance";
import getChecklist from "@salesforce/apex/DealcoachController.getChecklist";

const fs = require("fs");
const path = require("path");

const DIR = process.env.DEALCOACH_LWC_FIXTURES || path.join(__dirname, "data");
const INDEX = JSON.parse(fs.readFileSync(path.join(DIR, "index.json"), "utf8"));
const read = (name) => fs.readFileSync(path.join(DIR, name), "utf8");

jest.mock(
    "@salesforce/apex/DealcoachController.getGuidance",
    () => {
        const { createApexTestWireAdapter } = require("@salesforce/sfdx-lwc-jest");
        return { default: createApexTestWireAdapter(jest.fn()) };
    },
    { virtual: true }
);
jest.mock(
    "@salesforce/apex/DealcoachController.getChecklist",
    () => {
        const { createApexTestWireAdapter } = require("@salesforce/sfdx-lwc-jest");
        return { default: createApexTestWireAdapter(jest.fn()) };
    },
    { virtual: true }
);

const WORDS = { CRITERION_STATUS_MET: "Met", CRITERION_STATUS_UNMET: "Not met", CRITERION_STATUS_UNKNOWN: "Not recorded" };
const SEVERITY = { RISK_SEVERITY_HIGH: "High", RISK_SEVERITY_MEDIUM: "Medium", RISK_SEVERITY_LOW: "Low" };
const text = (el) => el.textContent.replace(/\s+/g, " ").trim();
const flush = () => Promise.resolve();
// LWC rewrites template ids to unique ones, so sections are found by their heading.
const section = (root, title) =>
    [...root.querySelectorAll("section")].find((s) => text(s.querySelector("h3")).startsWith(title)) || null;

function mount(props) {
    const element = createElement("c-dealcoach-panel", { is: DealcoachPanel });
    Object.assign(element, props);
    document.body.appendChild(element);
    return element;
}

afterEach(() => {
    while (document.body.firstChild) document.body.removeChild(document.body.firstChild);
    jest.clearAllMocks();
});

describe("c-dealcoach-panel against recorded sidecar answers", () => {
    it("was given answers for several deals", () => {
        expect(INDEX.deals.length).toBeGreaterThanOrEqual(3);
    });

    it("shows a spinner until the answer arrives, then no spinner", async () => {
        const element = mount({ recordId: INDEX.deals[0] });
        expect(element.shadowRoot.querySelector("lightning-spinner")).not.toBeNull();
        getGuidance.emit(read(`${INDEX.deals[0]}.guidance.json`));
        await flush();
        expect(element.shadowRoot.querySelector("lightning-spinner")).toBeNull();
    });

    for (const id of INDEX.deals) {
        it(`renders deal ${id}: evidence phase, next gate criteria, behaviors, risks`, async () => {
            const body = read(`${id}.guidance.json`);
            const g = JSON.parse(body).guidance;
            const element = mount({ recordId: id });
            getGuidance.emit(body);
            await flush();
            const root = element.shadowRoot;
            expect(text(root.querySelector(".evidence-phase"))).toBe(g.evidencePhase.name);
            const gate = g.gates.find((x) => x.phase.id === g.evidencePhase.id);
            expect(text(section(root, "Next gate").querySelector("h3"))).toBe(`Next gate: leaving ${gate.phase.name}`);
            const criteria = [...root.querySelectorAll("li.criterion")];
            expect(criteria.map((li) => text(li.querySelector(".criterion-text")))).toEqual(gate.criteria.map((c) => c.text));
            expect(criteria.map((li) => text(li.querySelector("strong")))).toEqual(gate.criteria.map((c) => `${WORDS[c.status]}:`));
            const behaviors = g.nextBestBehaviors || [];
            expect(behaviors.length).toBeLessThanOrEqual(3);
            const shown = [...root.querySelectorAll("li.behavior")];
            expect(shown.map((li) => text(li.querySelector(".prompt")))).toEqual(behaviors.map((b, i) => `${i + 1}. ${b.prompt}`));
            shown.forEach((li, i) => {
                expect(text(li)).toContain(`Why: ${behaviors[i].why}`);
                expect([...li.querySelectorAll("a")].map((a) => a.href)).toEqual((behaviors[i].content || []).map((c) => new URL(c.url).href));
            });
            const risks = g.risks || [];
            expect([...root.querySelectorAll("li.risk")].map(text)).toEqual(risks.map((r) => `${SEVERITY[r.severity]} ${r.text}`));
            if (!risks.length) expect(text(section(root, "Risks"))).toContain("No risks found.");
            if (g.stageAheadOfEvidence) {
                expect(text(root.querySelector("[role=note]"))).toBe(g.stageAheadOfEvidence.message);
            } else {
                expect(root.querySelector("[role=note]")).toBeNull();
            }
            // Rep mode never asks for the checklist.
            expect(root.querySelector("li.check")).toBeNull();
        });
    }

    it("in manager mode adds the review checklist with the question to ask", async () => {
        const id = INDEX.deals[0];
        const checklist = JSON.parse(read(`${id}.checklist.json`)).checklist;
        const element = mount({ recordId: id, managerMode: true });
        getGuidance.emit(read(`${id}.guidance.json`));
        getChecklist.emit(read(`${id}.checklist.json`));
        await flush();
        const root = element.shadowRoot;
        const items = [...root.querySelectorAll("li.check")];
        expect(items.length).toBe(checklist.items.length);
        expect(items.map((li) => text(li.querySelector("span")))).toEqual(checklist.items.map((i) => i.text));
        const open = checklist.items.filter((i) => i.status !== "CRITERION_STATUS_MET" && i.coachingQuestion);
        expect(open.length).toBeGreaterThan(0);
        for (const item of open) expect(items.some((li) => text(li).includes(`Ask: ${item.coachingQuestion}`))).toBe(true);
        expect(text(section(root, "Review checklist").querySelector("h3"))).toBe(`Review checklist · ${checklist.openItems} open`);
    });

    it("shows the sidecar's message for a deal it does not have", async () => {
        const status = JSON.parse(read(`${INDEX.missing}.guidance.404.json`));
        expect(status.code).toBe(5); // NOT_FOUND, the google.rpc.Status the sidecar sent
        const element = mount({ recordId: INDEX.missing });
        getGuidance.error({ message: status.message });
        await flush();
        const alert = element.shadowRoot.querySelector("[role=alert]");
        expect(alert).not.toBeNull();
        expect(text(alert)).toBe(status.message);
        expect(text(alert)).toContain(INDEX.missing);
        expect(element.shadowRoot.querySelector(".evidence-phase")).toBeNull();
    });

    it("renders a hostile deal string as text", async () => {
        const g = JSON.parse(read(`${INDEX.deals[0]}.guidance.json`));
        g.guidance.risks = [{ severity: "RISK_SEVERITY_HIGH", text: "<img src=x onerror=alert(1)>" }];
        const element = mount({ recordId: INDEX.deals[0] });
        getGuidance.emit(JSON.stringify(g));
        await flush();
        expect(text(element.shadowRoot.querySelector("li.risk"))).toBe("High <img src=x onerror=alert(1)>");
        expect(element.shadowRoot.querySelector("img")).toBeNull();
    });
});
