-- Ingest: hourly rollups maintained from an invalidation log, and per-worker metrics.
-- depends: 0001.core

-- Hourly rollups on the Apache build (a continuous aggregate replaces the data source of
-- the telemetry_hourly view when the community licence is present, see ingest/maintenance.py).
CREATE TABLE ingest_rollup_hourly (
    bucket  timestamptz      NOT NULL,
    asset   text             NOT NULL,
    metric  text             NOT NULL,
    n       bigint           NOT NULL,
    sum     double precision NOT NULL,
    min     double precision NOT NULL,
    max     double precision NOT NULL,
    PRIMARY KEY (asset, metric, bucket)
);
CREATE INDEX ingest_rollup_hourly_bucket_idx ON ingest_rollup_hourly (bucket);

-- Invalidation log: (hour, asset) pairs that received rows since the last refresh. The
-- writer upserts a mark in the same transaction as the rows; the refresh job deletes the
-- marks it handles, so a mark is never lost between a write and a refresh.
CREATE TABLE ingest_rollup_dirty (
    bucket     timestamptz NOT NULL,
    asset      text        NOT NULL,
    marked_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (bucket, asset)
);

CREATE VIEW telemetry_hourly AS
    SELECT bucket, asset, metric, n, sum / n AS avg, min, max
    FROM ingest_rollup_hourly;

-- One row per ingest worker, refreshed every metrics interval.
CREATE TABLE ingest_metrics (
    worker         text PRIMARY KEY,
    started_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    messages       bigint NOT NULL DEFAULT 0,
    samples        bigint NOT NULL DEFAULT 0,
    rows_written   bigint NOT NULL DEFAULT 0,
    rows_duplicate bigint NOT NULL DEFAULT 0,
    dead_letters   bigint NOT NULL DEFAULT 0,
    batches        bigint NOT NULL DEFAULT 0,
    db_retries     bigint NOT NULL DEFAULT 0,
    batch_ms_p50   double precision,
    batch_ms_max   double precision,
    lag_s          double precision,
    pending        integer NOT NULL DEFAULT 0
);
