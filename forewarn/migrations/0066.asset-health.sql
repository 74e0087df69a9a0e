-- Detectors: each asset's health index over time, with its trend and forecast (issue 13).
-- depends: 0065.ticket-anomaly-episodes

-- Written with every checkpoint of an asset's detector (detectors/store.py), stamped with the
-- time of the last sample it had scored, so a re-saved checkpoint is a no-op (ON CONFLICT DO
-- NOTHING on the key, which includes the time column as hypertables require). health and
-- the trend are NULL while there is no healthy reference (warm-up, re-learning); the
-- forecast is NULL whenever the trend is too weak to say (docs/detectors.md).
CREATE TABLE asset_health (
    asset                text             NOT NULL,
    ts                   timestamptz      NOT NULL,
    site                 text,
    health               double precision CHECK (health >= 0 AND health <= 1),
    slope_per_day        double precision,
    time_to_threshold_h  double precision CHECK (time_to_threshold_h >= 0),
    alarm                boolean          NOT NULL DEFAULT false,
    state                text             NOT NULL
        CHECK (state IN ('warmup', 'relearn', 'stopped', 'running')),
    ref_to               timestamptz,
    worker               text,
    saved_at             timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (asset, ts)
);
DO $$ BEGIN
    PERFORM create_hypertable('asset_health', 'ts', chunk_time_interval => interval '7 days');
END $$;
