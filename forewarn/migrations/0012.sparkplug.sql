-- Sparkplug B intake: device events (string metrics) and the last birth certificate of
-- every edge node and device, so a restarted worker still resolves aliases.
-- depends: 0010.ingest

-- Strings are facts about a device (firmware version, state text), not telemetry. Keyed
-- like telemetry so that a redelivered message changes nothing.
CREATE TABLE IF NOT EXISTS device_events (
    time        timestamptz NOT NULL,
    asset       text        NOT NULL,
    name        text        NOT NULL,
    value       text        NOT NULL,
    historical  boolean     NOT NULL DEFAULT false,
    source      text        NOT NULL DEFAULT 'sparkplug',
    PRIMARY KEY (asset, name, time)
);
CREATE INDEX IF NOT EXISTS device_events_time_idx ON device_events (time);

-- One row per (group, edge node, device); device '' is the node's own NBIRTH.
CREATE TABLE IF NOT EXISTS sparkplug_births (
    group_id    text        NOT NULL,
    edge        text        NOT NULL,
    device      text        NOT NULL DEFAULT '',
    payload     bytea       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, edge, device)
);
