-- Playbook revisions, the audit trail and the per-tenant change counter.
-- Times are Unix microseconds (INTEGER).
CREATE TABLE playbook_revisions (
  tenant TEXT NOT NULL,
  name TEXT NOT NULL,
  revision INTEGER NOT NULL CHECK (revision > 0),
  content_hash TEXT NOT NULL,
  yaml TEXT NOT NULL,
  author TEXT NOT NULL,
  message TEXT NOT NULL,
  created_at_us INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('draft', 'published', 'archived')),
  PRIMARY KEY (tenant, name, revision)
) WITHOUT ROWID;
-- At most one published revision per playbook, whatever the code above does.
CREATE UNIQUE INDEX playbook_revisions_one_published
  ON playbook_revisions (tenant, name) WHERE state = 'published';

CREATE TABLE audit_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL CHECK (action IN ('validate', 'plan', 'publish', 'rollback')),
  playbook TEXT NOT NULL,
  revision INTEGER NOT NULL,
  at_us INTEGER NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX audit_events_by_playbook ON audit_events (tenant, playbook, id);
-- Append-only: the audit trail is never edited.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
  BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
  BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;

CREATE TABLE store_changes (
  tenant TEXT PRIMARY KEY,
  counter INTEGER NOT NULL
) WITHOUT ROWID;
