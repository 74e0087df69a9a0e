-- Ticketing: work orders, engineers, routing, SLA, audit chain, tokens, webhooks, feedback.
-- depends: 0001.core

CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('admin', 'dispatcher', 'engineer', 'integration')),
    engineer_id  bigint,
    token_hash   text NOT NULL UNIQUE,           -- sha256 of the bearer token; never the token
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

CREATE TABLE engineers (
    id             bigserial PRIMARY KEY,
    name           text NOT NULL,
    email          text,
    asset_classes  text[] NOT NULL DEFAULT '{}',
    fault_modes    text[] NOT NULL DEFAULT '{}',
    certifications text[] NOT NULL DEFAULT '{}',
    home_lat       double precision,
    home_lon       double precision,
    zones          text[] NOT NULL DEFAULT '{}',
    shifts         jsonb NOT NULL DEFAULT '[]'::jsonb,  -- [{"days":[0..6],"start":"08:00","end":"17:00"}] UTC
    on_call        boolean NOT NULL DEFAULT false,
    available      boolean NOT NULL DEFAULT true,
    supervisor     boolean NOT NULL DEFAULT false,
    max_load       integer NOT NULL DEFAULT 8,
    created_at     timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_engineer_fk
    FOREIGN KEY (engineer_id) REFERENCES engineers (id);

CREATE TABLE sla_policies (
    priority            text PRIMARY KEY CHECK (priority IN ('P0', 'P1', 'P2')),
    response_minutes    integer NOT NULL CHECK (response_minutes > 0),
    resolution_minutes  integer NOT NULL CHECK (resolution_minutes > 0),
    warn_before_minutes integer NOT NULL CHECK (warn_before_minutes >= 0)
);
INSERT INTO sla_policies VALUES
    ('P0', 30, 240, 10),
    ('P1', 120, 1440, 30),
    ('P2', 480, 4320, 60);

CREATE TABLE tickets (
    id                    bigserial PRIMARY KEY,
    tracking_code         text NOT NULL UNIQUE,
    asset                 text NOT NULL REFERENCES assets (asset),
    site                  text NOT NULL,
    source                text NOT NULL CHECK (source IN ('predictive', 'customer', 'scheduled', 'manual')),
    priority              text NOT NULL CHECK (priority IN ('P0', 'P1', 'P2')),
    fault_mode            text NOT NULL DEFAULT 'unknown',
    title                 text NOT NULL,
    description           text NOT NULL DEFAULT '',
    state                 text NOT NULL DEFAULT 'new',
    engineer_id           bigint REFERENCES engineers (id),
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    acknowledged_at       timestamptz,
    resolved_at           timestamptz,
    closed_at             timestamptz,
    response_due          timestamptz,
    resolution_due        timestamptz,
    response_warned_at    timestamptz,
    resolution_warned_at  timestamptz,
    response_breached_at  timestamptz,
    resolution_breached_at timestamptz,
    escalations           integer NOT NULL DEFAULT 0,
    customer_reported_at  timestamptz,          -- a customer reported this after we opened it
    resolution_code       text CHECK (resolution_code IN ('confirmed', 'no_fault_found', 'fixed', 'cancelled')),
    confirmed_fault_mode  text,
    failure_at            timestamptz,          -- when the prevented failure was expected/happened
    first_time_fix        boolean,
    visits                integer NOT NULL DEFAULT 0,
    contact               text
);
-- The rule "one open predictive ticket per asset and fault mode" lives here, so that it holds
-- under any concurrency; intake uses INSERT ... ON CONFLICT against this index.
CREATE UNIQUE INDEX tickets_one_open_predictive ON tickets (asset, fault_mode)
    WHERE source = 'predictive' AND state NOT IN ('resolved', 'closed', 'cancelled');
CREATE INDEX tickets_state_idx ON tickets (state);
CREATE INDEX tickets_engineer_idx ON tickets (engineer_id) WHERE state NOT IN ('resolved', 'closed', 'cancelled');
CREATE INDEX tickets_response_due_idx ON tickets (response_due) WHERE acknowledged_at IS NULL;
CREATE INDEX tickets_resolution_due_idx ON tickets (resolution_due) WHERE resolved_at IS NULL;

CREATE TABLE ticket_anomalies (
    event_id     text PRIMARY KEY,               -- de-duplicates redelivered events
    ticket_id    bigint REFERENCES tickets (id),
    asset        text NOT NULL,
    site         text NOT NULL,
    fault_mode   text NOT NULL,
    severity     text NOT NULL,
    score        double precision NOT NULL,
    ts           timestamptz NOT NULL,
    historical   boolean NOT NULL,
    received_at  timestamptz NOT NULL,
    outcome      text NOT NULL,                  -- opened, evidence, historical, cleared
    payload      jsonb NOT NULL
);
CREATE INDEX ticket_anomalies_ticket_idx ON ticket_anomalies (ticket_id);

CREATE TABLE subtasks (
    id          bigserial PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets (id),
    title       text NOT NULL,
    done        boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    done_at     timestamptz
);
CREATE INDEX subtasks_ticket_idx ON subtasks (ticket_id);

CREATE TABLE comments (
    id          bigserial PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets (id),
    author      text NOT NULL,
    role        text NOT NULL,
    body        text NOT NULL,
    internal    boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL
);
CREATE INDEX comments_ticket_idx ON comments (ticket_id);

CREATE TABLE attachments (
    id            bigserial PRIMARY KEY,
    ticket_id     bigint NOT NULL REFERENCES tickets (id),
    filename      text NOT NULL,
    content_type  text NOT NULL,
    size_bytes    bigint NOT NULL CHECK (size_bytes >= 0),
    sha256        text,
    url           text,
    uploaded_by   text NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX attachments_ticket_idx ON attachments (ticket_id);

CREATE TABLE routing_decisions (
    id           bigserial PRIMARY KEY,
    ticket_id    bigint NOT NULL REFERENCES tickets (id),
    at           timestamptz NOT NULL,
    reason       text NOT NULL,                  -- creation, escalation, manual
    engineer_id  bigint REFERENCES engineers (id),
    explanation  text NOT NULL,
    candidates   jsonb NOT NULL
);
CREATE INDEX routing_decisions_ticket_idx ON routing_decisions (ticket_id);

-- Append-only, hash-chained audit log. body is the exact canonical JSON that was hashed.
CREATE TABLE audit_events (
    seq         bigint PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    role        text NOT NULL,
    action      text NOT NULL,
    entity      text NOT NULL,
    entity_id   text NOT NULL,
    body        text NOT NULL,
    prev_hash   text NOT NULL,
    hash        text NOT NULL
);
CREATE INDEX audit_events_entity_idx ON audit_events (entity, entity_id);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE idempotency_keys (
    key          text NOT NULL,
    token_id     bigint NOT NULL,
    request_hash text NOT NULL,
    status       integer,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (token_id, key)
);

CREATE TABLE webhooks (
    id           bigserial PRIMARY KEY,
    url          text NOT NULL,
    event_types  text[] NOT NULL,
    secret       text NOT NULL,
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id               bigserial PRIMARY KEY,
    webhook_id       bigint NOT NULL REFERENCES webhooks (id),
    event_type       text NOT NULL,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL,
    delivered_at     timestamptz
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

-- Resolution codes of predictive tickets, for detectors to learn from (also on MQTT
-- forewarn/v1/{site}/{asset}/feedback).
CREATE TABLE detector_feedback (
    ticket_id        bigint PRIMARY KEY REFERENCES tickets (id),
    site             text NOT NULL,
    asset            text NOT NULL,
    fault_mode       text NOT NULL,
    resolution_code  text NOT NULL,
    confirmed_fault_mode text,
    event_ids        text[] NOT NULL,
    opened_at        timestamptz NOT NULL,
    resolved_at      timestamptz NOT NULL
);
CREATE INDEX detector_feedback_asset_idx ON detector_feedback (asset, resolved_at);
