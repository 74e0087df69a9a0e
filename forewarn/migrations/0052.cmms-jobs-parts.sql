-- Job plans (checklists, skills, duration, parts) and spare parts (catalogue, stock per
-- store, reservations). "Never over-commit" is a CHECK on stock (reserved <= on_hand), and
-- reservations take stock with a conditional UPDATE, so it holds under any concurrency.
-- depends: 0051.cmms-pm

CREATE TABLE parts (
    id          bigserial PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    name        text NOT NULL,
    unit_cost   numeric(12, 2) NOT NULL DEFAULT 0 CHECK (unit_cost >= 0),
    created_at  timestamptz NOT NULL
);

CREATE TABLE stock (
    part_id        bigint NOT NULL REFERENCES parts (id),
    store          text NOT NULL,
    site           text,
    on_hand        integer NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved       integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    reorder_point  integer NOT NULL DEFAULT 0 CHECK (reorder_point >= 0),
    low_since      timestamptz,                  -- set when the low-stock event went out
    PRIMARY KEY (part_id, store),
    CHECK (reserved <= on_hand)
);

CREATE TABLE job_plans (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    fault_mode   text UNIQUE,                    -- a predictive ticket of this fault gets it
    skills       text[] NOT NULL DEFAULT '{}',
    est_minutes  integer NOT NULL CHECK (est_minutes > 0),
    created_at   timestamptz NOT NULL
);

CREATE TABLE job_plan_steps (
    job_plan_id  bigint NOT NULL REFERENCES job_plans (id),
    position     integer NOT NULL CHECK (position > 0),
    text         text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('pass_fail', 'reading')),
    PRIMARY KEY (job_plan_id, position)
);

CREATE TABLE job_plan_parts (
    job_plan_id  bigint NOT NULL REFERENCES job_plans (id),
    part_id      bigint NOT NULL REFERENCES parts (id),
    qty          integer NOT NULL CHECK (qty > 0),
    PRIMARY KEY (job_plan_id, part_id)
);

ALTER TABLE pm_plans ADD COLUMN job_plan_id bigint REFERENCES job_plans (id);

CREATE TABLE ticket_job_plans (
    ticket_id    bigint PRIMARY KEY REFERENCES tickets (id),
    job_plan_id  bigint NOT NULL REFERENCES job_plans (id),
    attached_at  timestamptz NOT NULL
);

CREATE TABLE ticket_steps (
    id                  bigserial PRIMARY KEY,
    ticket_id           bigint NOT NULL REFERENCES tickets (id),
    position            integer NOT NULL,
    text                text NOT NULL,
    kind                text NOT NULL,
    result              text CHECK (result IN ('pass', 'fail')),
    reading             double precision,
    note                text,
    done_at             timestamptz,
    done_by             text,
    followup_ticket_id  bigint REFERENCES tickets (id),
    UNIQUE (ticket_id, position)
);

CREATE TABLE reservations (
    id          bigserial PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets (id),
    part_id     bigint NOT NULL REFERENCES parts (id),
    store       text,                            -- null while short
    qty         integer NOT NULL CHECK (qty > 0),
    state       text NOT NULL CHECK (state IN ('reserved', 'short', 'issued', 'released')),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX reservations_ticket_idx ON reservations (ticket_id);
