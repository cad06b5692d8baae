-- dealcoach PostgreSQL connector: the documented table layout ("table mode").
--
-- Load it into the database (or a schema of it) the connector reads:
--   psql "$DEALCOACH_PG" -v ON_ERROR_STOP=1 -f connectors/postgres/schema.sql
-- Teams with their own layout can skip this file and give the connector a `query`
-- instead (see README.md). Idempotent: every object is created IF NOT EXISTS.
--
-- Incremental sync reads opportunities.updated_at. The triggers at the bottom bump it
-- whenever a row that belongs to the opportunity (contact role, activity, stage change)
-- changes, and whenever the opportunity row itself is updated without setting it, so a
-- sync never misses an edit.

CREATE TABLE IF NOT EXISTS accounts (
  id         text PRIMARY KEY,
  name       text NOT NULL,
  industry   text,
  employees  bigint,
  segment    text               -- "enterprise", "mid-market", ...
);

CREATE TABLE IF NOT EXISTS opportunities (
  id                text PRIMARY KEY,
  name              text NOT NULL,
  account_id        text REFERENCES accounts (id),
  owner_id          text,
  owner_name        text,
  manager_id        text,
  team              text,
  stage             text,        -- CRM stage label; playbooks map it onto phases
  stage_entered_at  timestamptz,
  amount            numeric(18, 2),
  currency_code     char(3),     -- ISO 4217
  close_date        date,
  forecast_category text,        -- pipeline | best_case | commit | omitted
  next_step         text,
  is_closed         boolean,
  is_won            boolean,
  -- Any other field, by name: {"decision_to_change": true, "budget_confirmed": "yes"}.
  -- Values map onto opp.fields.<name> (type taken from the JSON value unless the
  -- mapping declares one).
  custom_fields     jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
-- Keyset paging for incremental sync: WHERE (updated_at, id) > ($1, $2) ORDER BY 1, 2.
CREATE INDEX IF NOT EXISTS opportunities_updated_at_id ON opportunities (updated_at, id);

CREATE TABLE IF NOT EXISTS contacts (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  title       text,
  account_id  text REFERENCES accounts (id)
);

-- A contact's part in one deal: buying roles from the playbook's `roles` list
-- (economic_buyer, user_buyer, technical_buyer, coach, champion, ...).
CREATE TABLE IF NOT EXISTS opportunity_contacts (
  opportunity_id  text NOT NULL REFERENCES opportunities (id) ON DELETE CASCADE,
  contact_id      text NOT NULL REFERENCES contacts (id),
  roles           text[] NOT NULL DEFAULT '{}',
  is_primary      boolean,
  confirmed_pain  boolean,
  sentiment       text,          -- positive | neutral | negative
  last_met_at     timestamptz,
  PRIMARY KEY (opportunity_id, contact_id)
);

CREATE TABLE IF NOT EXISTS activities (
  id               text PRIMARY KEY,
  opportunity_id   text NOT NULL REFERENCES opportunities (id) ON DELETE CASCADE,
  type             text NOT NULL CHECK (type IN ('call', 'meeting', 'email', 'task')),
  at               timestamptz NOT NULL,
  subject          text NOT NULL DEFAULT '',
  participant_ids  text[] NOT NULL DEFAULT '{}',   -- contacts.id of customer participants
  outcome          text
);
CREATE INDEX IF NOT EXISTS activities_opportunity ON activities (opportunity_id, at);

CREATE TABLE IF NOT EXISTS stage_history (
  opportunity_id  text NOT NULL REFERENCES opportunities (id) ON DELETE CASCADE,
  stage           text NOT NULL,
  entered_at      timestamptz NOT NULL,
  PRIMARY KEY (opportunity_id, entered_at, stage)
);

-- Child-row changes bump the parent's updated_at (see the header comment).
CREATE OR REPLACE FUNCTION dealcoach_touch_opportunity() RETURNS trigger AS $$
BEGIN
  UPDATE opportunities SET updated_at = now()
   WHERE id = COALESCE(NEW.opportunity_id, OLD.opportunity_id);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['opportunity_contacts', 'activities', 'stage_history'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                    WHERE tgname = t || '_touch_opportunity'
                      AND tgrelid = to_regclass(t)) THEN
      EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I '
                     'FOR EACH ROW EXECUTE FUNCTION dealcoach_touch_opportunity()',
                     t || '_touch_opportunity', t);
    END IF;
  END LOOP;
END;
$$;

-- An UPDATE of an opportunity row that does not set updated_at itself (an admin's
-- `UPDATE opportunities SET stage = 'Negotiation'`, a bulk fix) still moves it, so the
-- next incremental sync sees the change. An UPDATE that sets updated_at keeps its value
-- (imports that carry the CRM's own modification time), and one that changes nothing
-- leaves the row alone.
CREATE OR REPLACE FUNCTION dealcoach_stamp_opportunity() RETURNS trigger AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger
                  WHERE tgname = 'opportunities_stamp_updated_at'
                    AND tgrelid = to_regclass('opportunities')) THEN
    CREATE TRIGGER opportunities_stamp_updated_at BEFORE UPDATE ON opportunities
      FOR EACH ROW
      WHEN (OLD.updated_at IS NOT DISTINCT FROM NEW.updated_at AND OLD.* IS DISTINCT FROM NEW.*)
      EXECUTE FUNCTION dealcoach_stamp_opportunity();
  END IF;
END;
$$;
