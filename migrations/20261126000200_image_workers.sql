-- Image workers (issue 4): retries with backoff, and the processed pictures shared by hash.
--
-- A job whose upload failed waits until `not_before`; after `images.max_attempts` it is `dead` (the
-- dead letter: `bridge images requeue` puts it back). `finished_at` lets old finished jobs be purged.
ALTER TABLE stock.image_jobs
    ADD COLUMN not_before  timestamptz,
    ADD COLUMN finished_at timestamptz;
DROP INDEX stock.image_jobs_queued;
CREATE INDEX image_jobs_runnable ON stock.image_jobs (enqueued_at, id) WHERE state IN ('queued', 'running');

-- One row per source picture (by SHA-256) and pipeline version: what was made of it and where it is.
-- Items share it through `stock.images.source_sha256`; its reference count is derived from there
-- (the `stock.image_object_refs` view), never kept as a counter that could drift. An object nothing
-- refers to is marked `unreferenced_since` and removed (S3 objects, then this row) only after the
-- grace period: CDN caches, open pages and old emails may still show it.
CREATE TABLE stock.image_objects (
    source_sha256      bytea NOT NULL,
    pipeline_version   text NOT NULL,
    status             stock.image_status NOT NULL CHECK (status IN ('ready', 'failed')),
    error              text,                    -- why the picture cannot be shown (failed only)
    keys               jsonb NOT NULL DEFAULT '{}'::jsonb,  -- {"480.webp": "items/<sha>/v1/480.webp", …}
    width              integer,                 -- of the picture, after EXIF orientation
    height             integer,
    bytes              bigint NOT NULL DEFAULT 0,  -- total size of the uploaded objects
    created_at         timestamptz NOT NULL DEFAULT now(),
    unreferenced_since timestamptz,
    PRIMARY KEY (source_sha256, pipeline_version)
);
CREATE INDEX image_objects_unreferenced ON stock.image_objects (unreferenced_since)
    WHERE unreferenced_since IS NOT NULL;
CREATE INDEX images_source_sha256 ON stock.images (source_sha256);

-- How many items show each picture: items whose current picture it is, deleted items excluded.
CREATE VIEW stock.image_object_refs AS
SELECT o.source_sha256, o.pipeline_version, o.status, o.unreferenced_since,
       (SELECT count(*) FROM stock.images i JOIN stock.items it ON it.item_key = i.item_key
        WHERE i.source_sha256 = o.source_sha256 AND NOT it.deleted) AS refs
FROM stock.image_objects o;

GRANT SELECT, INSERT, UPDATE, DELETE ON stock.image_objects TO bridge;
GRANT SELECT ON stock.image_objects, stock.image_object_refs TO bridge, shop;
