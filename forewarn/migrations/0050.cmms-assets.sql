-- Asset register: hierarchy, identity, criticality, location, documents, status; meters.
-- Ingest keeps creating bare rows (asset, site, class); they start as 'draft' for the team
-- to complete.
-- depends: 0040.ticketing

ALTER TABLE assets
    ADD COLUMN name            text,
    ADD COLUMN parent          text REFERENCES assets (asset),
    ADD COLUMN level           text NOT NULL DEFAULT 'machine'
        CHECK (level IN ('site', 'line', 'machine', 'component')),
    ADD COLUMN vendor          text,
    ADD COLUMN model           text,
    ADD COLUMN serial          text,
    ADD COLUMN criticality     text NOT NULL DEFAULT 'B' CHECK (criticality IN ('A', 'B', 'C')),
    ADD COLUMN documents       jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN commissioned_on date,
    ADD COLUMN status          text NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'active', 'inactive', 'retired')),
    ADD COLUMN updated_at      timestamptz,
    ADD CONSTRAINT assets_not_own_parent CHECK (parent IS NULL OR parent <> asset),
    ADD CONSTRAINT assets_lat_range CHECK (lat IS NULL OR lat BETWEEN -90 AND 90),
    ADD CONSTRAINT assets_lon_range CHECK (lon IS NULL OR lon BETWEEN -180 AND 180);
CREATE INDEX assets_parent_idx ON assets (parent);

-- Current value of each meter of an asset (running_hours, starts, or any named counter).
CREATE TABLE asset_meters (
    asset       text NOT NULL REFERENCES assets (asset),
    meter       text NOT NULL,
    value       double precision NOT NULL CHECK (value >= 0),
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (asset, meter)
);

-- Every reading: derived from telemetry (increments) or entered by hand (absolute values).
CREATE TABLE meter_readings (
    id          bigserial PRIMARY KEY,
    asset       text NOT NULL REFERENCES assets (asset),
    meter       text NOT NULL,
    value       double precision NOT NULL CHECK (value >= 0),
    at          timestamptz NOT NULL,
    source      text NOT NULL CHECK (source IN ('telemetry', 'manual')),
    recorded_by text NOT NULL
);
CREATE INDEX meter_readings_asset_idx ON meter_readings (asset, meter, at);

-- How far the running-hours derivation has read the telemetry of an asset (restart-safe:
-- moved in the same transaction as the meters it fed).
CREATE TABLE meter_watermarks (
    asset         text PRIMARY KEY REFERENCES assets (asset),
    last_time     timestamptz NOT NULL,
    last_running  boolean NOT NULL
);
