-- A removed application is still told whom its removal signed out: each queued back-channel logout
-- carries where it goes (client id and URI, as they were when it was queued) and outlives the
-- application's row, which it then no longer names.
ALTER TABLE logout_deliveries ADD COLUMN client_id text, ADD COLUMN uri text;
UPDATE logout_deliveries d SET client_id = a.client_id, uri = a.backchannel_logout_uri
FROM applications a WHERE a.id = d.application_id;
-- Queued only for applications with a URI; one since removed could not be delivered anyway.
DELETE FROM logout_deliveries WHERE uri IS NULL;
ALTER TABLE logout_deliveries
  ALTER COLUMN client_id SET NOT NULL,
  ALTER COLUMN uri SET NOT NULL,
  ALTER COLUMN application_id DROP NOT NULL,
  DROP CONSTRAINT logout_deliveries_application_id_fkey,
  ADD CONSTRAINT logout_deliveries_application_id_fkey FOREIGN KEY (application_id) REFERENCES applications (id) ON DELETE SET NULL;
