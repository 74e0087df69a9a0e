-- Detectors: anomaly events, per-asset model checkpoints, ticket feedback.
-- depends: 0001.core

-- Every anomaly event as published (payload) plus the columns dashboards filter on.
-- The key includes time (hypertable rule); event ids are deterministic, so a re-published
-- or replayed event is a no-op under ON CONFLICT DO NOTHING.
CREATE TABLE anomalies (
    time              timestamptz      NOT NULL,
    event_id          text             NOT NULL,
    site              text             NOT NULL,
    asset             text             NOT NULL,
    asset_class       text,
    detector          text             NOT NULL,
    detector_version  text             NOT NULL,
    config_hash       text             NOT NULL,
    score             double precision NOT NULL CHECK (score >= 0 AND score <= 1),
    severity          text             NOT NULL,
    fault_mode        text,
    state             text             NOT NULL CHECK (state IN ('open', 'cleared')),
    historical        boolean          NOT NULL DEFAULT false,
    time_to_limit_h   double precision,
    payload           jsonb            NOT NULL,
    stored_at         timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, time)
);
DO $$ BEGIN
    PERFORM create_hypertable('anomalies', 'time', chunk_time_interval => interval '7 days');
END $$;
CREATE INDEX anomalies_asset_time_idx ON anomalies (asset, time DESC);

-- The whole model state of one asset, so any worker resumes it without a new warm-up.
CREATE TABLE detector_checkpoints (
    asset             text PRIMARY KEY,
    asset_class       text,
    detector_version  text        NOT NULL,
    config_hash       text        NOT NULL,
    samples           bigint      NOT NULL,
    last_ts           timestamptz,
    state             bytea       NOT NULL,
    worker            text,
    saved_at          timestamptz NOT NULL DEFAULT now()
);

-- Ticket resolutions reach the detectors through ticketing's detector_feedback table
-- (migration 0040, one row per resolved predictive ticket). This records which of them the
-- owning detector applied, and the alarm bar the asset uses afterwards: the visible change.
CREATE TABLE detector_feedback_applied (
    ticket_id           bigint PRIMARY KEY,
    asset               text             NOT NULL,
    resolution_code     text             NOT NULL,
    on_threshold_after  double precision NOT NULL,
    worker              text,
    applied_at          timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX detector_feedback_applied_asset_idx ON detector_feedback_applied (asset, applied_at);
