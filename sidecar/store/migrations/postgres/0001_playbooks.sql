-- Playbook revisions, the audit trail and the per-tenant change counter.
CREATE TABLE playbook_revisions (
  tenant text NOT NULL,
  name text NOT NULL,
  revision bigint NOT NULL CHECK (revision > 0),
  content_hash text NOT NULL,
  yaml text NOT NULL,
  author text NOT NULL,
  message text NOT NULL,
  created_at timestamptz NOT NULL,
  state text NOT NULL CHECK (state IN ('draft', 'published', 'archived')),
  PRIMARY KEY (tenant, name, revision)
);
-- At most one published revision per playbook, whatever the code above does.
CREATE UNIQUE INDEX playbook_revisions_one_published
  ON playbook_revisions (tenant, name) WHERE state = 'published';

CREATE TABLE audit_events (
  id bigserial PRIMARY KEY,
  tenant text NOT NULL,
  actor text NOT NULL,
  action text NOT NULL CHECK (action IN ('validate', 'plan', 'publish', 'rollback')),
  playbook text NOT NULL,
  revision bigint NOT NULL,
  at timestamptz NOT NULL,
  detail text NOT NULL
);
CREATE INDEX audit_events_by_playbook ON audit_events (tenant, playbook, id);
-- Append-only: the audit trail is never edited.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END $$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE store_changes (
  tenant text PRIMARY KEY,
  counter bigint NOT NULL
);
