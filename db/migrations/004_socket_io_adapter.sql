-- Payloads of the Socket.IO PostgreSQL adapter that exceed NOTIFY's 8000-byte limit (presence
-- across nodes). The adapter deletes old rows itself.
CREATE TABLE socket_io_attachments (
  id         bigserial UNIQUE,
  created_at timestamptz DEFAULT now(),
  payload    bytea
);
