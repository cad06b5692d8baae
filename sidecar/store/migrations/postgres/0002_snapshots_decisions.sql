-- Evaluation snapshots (one row per deal, the compact result as serialized
-- dealcoach.store.CompactResult) and the decision log.
CREATE TABLE snapshots (
  tenant text NOT NULL,
  snapshot_id text NOT NULL,
  created_at timestamptz NOT NULL,
  deals bigint NOT NULL,
  PRIMARY KEY (tenant, snapshot_id)
);

CREATE TABLE snapshot_results (
  tenant text NOT NULL,
  snapshot_id text NOT NULL,
  deal_id text COLLATE "C" NOT NULL,
  claimed_phase text NOT NULL,
  evidence_phase text NOT NULL,
  amount double precision NOT NULL,
  close_date_unix bigint NOT NULL,
  owner text NOT NULL,
  stage text NOT NULL,
  result bytea NOT NULL,
  PRIMARY KEY (tenant, snapshot_id, deal_id)
);
CREATE INDEX snapshot_results_by_phase
  ON snapshot_results (tenant, snapshot_id, evidence_phase);

CREATE TABLE decisions (
  tenant text NOT NULL,
  decision_id text NOT NULL,
  at timestamptz NOT NULL,
  caller text NOT NULL,
  deal_id text NOT NULL,
  playbook text NOT NULL,
  revision bigint NOT NULL,
  fired_rule_ids text[] NOT NULL,
  input_hash text NOT NULL,
  latency_us bigint NOT NULL,
  PRIMARY KEY (tenant, decision_id)
);
CREATE INDEX decisions_by_time ON decisions (tenant, at);
CREATE INDEX decisions_by_deal ON decisions (tenant, deal_id, at);
