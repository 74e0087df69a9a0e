-- Labour (time entries per engineer on a ticket) and downtime per asset, for MTBF, MTTR
-- and cost.
-- depends: 0052.cmms-jobs-parts

CREATE TABLE time_entries (
    id           bigserial PRIMARY KEY,
    ticket_id    bigint NOT NULL REFERENCES tickets (id),
    engineer_id  bigint NOT NULL REFERENCES engineers (id),
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz NOT NULL,
    rate_per_h   numeric(10, 2) NOT NULL CHECK (rate_per_h >= 0),
    note         text,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL,
    CHECK (ended_at > started_at)
);
CREATE INDEX time_entries_ticket_idx ON time_entries (ticket_id);

CREATE TABLE downtime (
    id          bigserial PRIMARY KEY,
    asset       text NOT NULL REFERENCES assets (asset),
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    planned     boolean NOT NULL DEFAULT false,
    ticket_id   bigint REFERENCES tickets (id),
    source      text NOT NULL CHECK (source IN ('ticket', 'manual')),
    note        text,
    created_at  timestamptz NOT NULL,
    CHECK (ended_at IS NULL OR ended_at > started_at)
);
CREATE INDEX downtime_asset_idx ON downtime (asset, started_at);
-- one open downtime per ticket (a stopped asset's P0 ticket opens it, resolving closes it)
CREATE UNIQUE INDEX downtime_one_per_ticket ON downtime (ticket_id) WHERE ticket_id IS NOT NULL;
