-- Core schema: assets registry, telemetry hypertable, dead letters.
-- depends:

CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE sites (
    site        text PRIMARY KEY,
    name        text,
    lat         double precision,
    lon         double precision,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE assets (
    asset          text PRIMARY KEY,
    site           text NOT NULL,
    asset_class    text,
    gateway        text,
    lat            double precision,
    lon            double precision,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    last_seen      timestamptz,
    meta           jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX assets_site_idx ON assets (site);

-- Narrow telemetry. The key includes time (a hypertable requirement) and makes a replayed
-- batch a no-op under INSERT ... ON CONFLICT DO NOTHING.
CREATE TABLE telemetry (
    time    timestamptz      NOT NULL,
    asset   text             NOT NULL,
    metric  text             NOT NULL,
    value   double precision NOT NULL,
    PRIMARY KEY (asset, metric, time)
);
DO $$ BEGIN
    PERFORM create_hypertable('telemetry', 'time', chunk_time_interval => interval '1 day');
END $$;

-- Every rejected payload is kept whole with its reason: bad input loses nothing.
CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    service      text NOT NULL,
    topic        text,
    payload      bytea NOT NULL,
    reason       text NOT NULL
);
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at);
