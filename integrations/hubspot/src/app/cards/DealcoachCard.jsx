// dealcoach app card for the HubSpot deal record.
//
// HubSpot app cards are built only from HubSpot's own React components and reach
// outside services only through hubspot.fetch() to a URL listed in permittedUrls.fetch
// (app-hsmeta.json); custom headers cannot be set, so the sidecar authenticates the
// call by HubSpot's X-HubSpot-Signature-v3 (configure http.hubspot_client_secret and
// http.public_url on the sidecar; docs/kits.md). The deal is looked up by its HubSpot
// id through the sidecar's hubspot connector.
import React, { useEffect, useState } from "react";
import {
  Alert,
  Divider,
  Flex,
  Heading,
  Link,
  List,
  LoadingSpinner,
  StatusTag,
  Text,
  hubspot,
} from "@hubspot/ui-extensions";

// The sidecar's public HTTPS URL; must be listed in app-hsmeta.json permittedUrls.fetch.
const SIDECAR = "https://dealcoach.example.com";

const STATUS = {
  CRITERION_STATUS_MET: { label: "Met", variant: "success" },
  CRITERION_STATUS_UNMET: { label: "Not met", variant: "danger" },
  CRITERION_STATUS_UNKNOWN: { label: "Not recorded", variant: "warning" },
};
const SEVERITY = {
  RISK_SEVERITY_HIGH: { label: "High", variant: "danger" },
  RISK_SEVERITY_MEDIUM: { label: "Medium", variant: "warning" },
  RISK_SEVERITY_LOW: { label: "Low", variant: "default" },
};

hubspot.extend(({ context }) => <DealcoachCard context={context} />);

export function DealcoachCard({ context }) {
  const dealId = context.crm.objectId;
  const [guidance, setGuidance] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    hubspot
      .fetch(`${SIDECAR}/v1/deals/${encodeURIComponent(dealId)}/guidance`, { timeout: 10000 })
      .then(async (res) => {
        const body = await res.json().catch(() => ({}));
        if (!res.ok) throw new Error(body.message || `dealcoach answered HTTP ${res.status}`);
        setGuidance(body.guidance || {});
      })
      .catch((e) => setError(e.message || "Can't reach dealcoach"));
  }, [dealId]);

  if (error) return <Alert title="dealcoach" variant="error">{error}</Alert>;
  if (!guidance) return <LoadingSpinner label="Loading coaching for this deal" />;

  const evidence = guidance.evidencePhase || {};
  const claimed = guidance.claimedPhase;
  const gate = (guidance.gates || []).find((g) => g.phase && g.phase.id === evidence.id);
  const pb = guidance.playbook || {};
  return (
    <Flex direction="column" gap="small">
      <Text>
        Evidence says <Text inline={true} format={{ fontWeight: "bold" }}>{evidence.name || evidence.id}</Text>
        {claimed && claimed.id !== evidence.id ? ` · CRM stage claims ${claimed.name}` : ""}
      </Text>
      {guidance.stageAheadOfEvidence ? (
        <Alert title="Stage ahead of evidence" variant="warning">{guidance.stageAheadOfEvidence.message}</Alert>
      ) : null}
      {gate ? (
        <>
          <Heading>Next gate: leaving {gate.phase.name}</Heading>
          <List>
            {(gate.criteria || []).map((c, i) => {
              const st = STATUS[c.status] || STATUS.CRITERION_STATUS_UNKNOWN;
              return (
                <Flex key={`c${i}`} direction="column">
                  <Text>
                    <StatusTag variant={st.variant}>{st.label}</StatusTag> {c.text}
                  </Text>
                  {c.status !== "CRITERION_STATUS_MET" && c.hint ? <Text variant="microcopy">→ {c.hint}</Text> : null}
                </Flex>
              );
            })}
          </List>
        </>
      ) : null}
      <Divider />
      <Heading>Top next steps</Heading>
      <List variant="ordered">
        {(guidance.nextBestBehaviors || []).map((b, i) => (
          <Flex key={`b${i}`} direction="column">
            <Text format={{ fontWeight: "bold" }}>{b.prompt}</Text>
            {b.why ? <Text variant="microcopy">Why: {b.why}</Text> : null}
            {(b.content || [])
              .filter((c) => /^https?:\/\//.test(c.url || ""))
              .map((c, j) => (
                <Link key={`l${i}-${j}`} href={c.url}>{c.title}</Link>
              ))}
          </Flex>
        ))}
      </List>
      <Divider />
      <Heading>Risks</Heading>
      {(guidance.risks || []).length === 0 ? <Text>No risks found.</Text> : null}
      <List>
        {(guidance.risks || []).map((r, i) => {
          const sev = SEVERITY[r.severity] || SEVERITY.RISK_SEVERITY_LOW;
          return (
            <Text key={`r${i}`}>
              <StatusTag variant={sev.variant}>{sev.label}</StatusTag> {r.text}
            </Text>
          );
        })}
      </List>
      <Text variant="microcopy">
        Data from {(guidance.freshness && guidance.freshness.source) || "HubSpot"} · playbook {pb.name}@{pb.version || 0}
      </Text>
    </Flex>
  );
}
