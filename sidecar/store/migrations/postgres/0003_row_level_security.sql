-- Row-level security: every tenant table shows and accepts only the rows of the tenant
-- the transaction set (SET LOCAL dealcoach.tenant / set_config(..., true)). FORCE makes
-- the table owner subject to it too; only superusers and BYPASSRLS roles are exempt,
-- so the sidecar must connect as an ordinary role (docs/store.md).
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['playbook_revisions', 'audit_events', 'store_changes',
                           'snapshots', 'snapshot_results', 'decisions'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I '
                   'USING (tenant = current_setting(''dealcoach.tenant'', true)) '
                   'WITH CHECK (tenant = current_setting(''dealcoach.tenant'', true))', t);
  END LOOP;
END $$;
