-- Evaluation snapshots (one row per deal, the compact result as serialized
-- dealcoach.store.CompactResult) and the decision log.
CREATE TABLE snapshots (
  tenant TEXT NOT NULL,
  snapshot_id TEXT NOT NULL,
  created_at_us INTEGER NOT NULL,
  deals INTEGER NOT NULL,
  PRIMARY KEY (tenant, snapshot_id)
) WITHOUT ROWID;

CREATE TABLE snapshot_results (
  tenant TEXT NOT NULL,
  snapshot_id TEXT NOT NULL,
  deal_id TEXT NOT NULL,
  claimed_phase TEXT NOT NULL,
  evidence_phase TEXT NOT NULL,
  amount REAL NOT NULL,
  close_date_unix INTEGER NOT NULL,
  owner TEXT NOT NULL,
  stage TEXT NOT NULL,
  result BLOB NOT NULL,
  PRIMARY KEY (tenant, snapshot_id, deal_id)
) WITHOUT ROWID;
CREATE INDEX snapshot_results_by_phase
  ON snapshot_results (tenant, snapshot_id, evidence_phase);

CREATE TABLE decisions (
  tenant TEXT NOT NULL,
  decision_id TEXT NOT NULL,
  at_us INTEGER NOT NULL,
  caller TEXT NOT NULL,
  deal_id TEXT NOT NULL,
  playbook TEXT NOT NULL,
  revision INTEGER NOT NULL,
  fired_rule_ids TEXT NOT NULL,
  input_hash TEXT NOT NULL,
  latency_us INTEGER NOT NULL,
  PRIMARY KEY (tenant, decision_id)
) WITHOUT ROWID;
CREATE INDEX decisions_by_time ON decisions (tenant, at_us);
CREATE INDEX decisions_by_deal ON decisions (tenant, deal_id, at_us);
