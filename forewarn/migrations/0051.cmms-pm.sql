-- Preventive maintenance plans and their occurrences. An occurrence's key (per plan) is the
-- rule "exactly once per due occurrence": the scan inserts it ON CONFLICT DO NOTHING, so a
-- restart, a second worker or a repeated scan opens nothing twice.
-- depends: 0050.cmms-assets

CREATE TABLE pm_plans (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    asset        text NOT NULL REFERENCES assets (asset),
    every_days   integer CHECK (every_days > 0),
    anchor       text NOT NULL DEFAULT 'fixed' CHECK (anchor IN ('fixed', 'floating')),
    meter        text,
    every_meter  double precision CHECK (every_meter > 0),
    lead_days    integer NOT NULL DEFAULT 0 CHECK (lead_days >= 0),
    lead_meter   double precision NOT NULL DEFAULT 0 CHECK (lead_meter >= 0),
    priority     text NOT NULL DEFAULT 'P2' CHECK (priority IN ('P0', 'P1', 'P2')),
    start_at     timestamptz NOT NULL,
    start_meter  double precision NOT NULL DEFAULT 0 CHECK (start_meter >= 0),
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL,
    CHECK (every_days IS NOT NULL OR every_meter IS NOT NULL),
    CHECK ((meter IS NULL) = (every_meter IS NULL))
);
CREATE INDEX pm_plans_asset_idx ON pm_plans (asset);

CREATE TABLE pm_occurrences (
    id          bigserial PRIMARY KEY,
    plan_id     bigint NOT NULL REFERENCES pm_plans (id),
    key         text NOT NULL,                   -- 'cal:<due time>' or 'meter:<threshold>'
    trigger     text NOT NULL CHECK (trigger IN ('calendar', 'meter')),
    due_at      timestamptz NOT NULL,
    meter_due   double precision,
    outcome     text NOT NULL CHECK (outcome IN ('opened', 'skipped')),
    ticket_id   bigint REFERENCES tickets (id),
    created_at  timestamptz NOT NULL,
    done_meter  double precision,                -- the meter when its ticket was resolved
    UNIQUE (plan_id, key)
);
CREATE INDEX pm_occurrences_ticket_idx ON pm_occurrences (ticket_id);
