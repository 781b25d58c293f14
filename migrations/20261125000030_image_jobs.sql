-- Image jobs: written by the bridge in the same transaction as the stock change that brought a new
-- picture, so a crash loses none; claimed by the image workers (`FOR UPDATE SKIP LOCKED` with a
-- lease). The payload is a reference, not the bytes: the worker re-reads the picture by item key with
-- its SELECT grant and checks the hash, so the latest picture wins and PostgreSQL never holds BLOBs.
CREATE TYPE stock.image_job_state AS ENUM ('queued', 'running', 'done', 'failed', 'dead');

CREATE TABLE stock.image_jobs (
    id            bigserial PRIMARY KEY,
    item_key      text NOT NULL,
    source_sha256 text NOT NULL,              -- hex SHA-256 of the picture's bytes in the source
    state         stock.image_job_state NOT NULL DEFAULT 'queued',
    attempts      integer NOT NULL DEFAULT 0,
    lease_until   timestamptz,
    last_error    text,
    changed_at    text NOT NULL,              -- source position of the change that brought it
    enqueued_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX image_jobs_queued ON stock.image_jobs (enqueued_at) WHERE state = 'queued';
CREATE INDEX image_jobs_item ON stock.image_jobs (item_key);

GRANT SELECT, INSERT, UPDATE, DELETE ON stock.image_jobs TO bridge;
GRANT USAGE, SELECT ON SEQUENCE stock.image_jobs_id_seq TO bridge;
GRANT SELECT ON stock.image_jobs TO shop;
