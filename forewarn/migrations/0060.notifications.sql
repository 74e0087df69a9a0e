-- Notifications to people (issue 16): Apprise channels per engineer or role, on-call
-- rotations, escalation chains with acknowledge-to-stop, and an outbox written in the same
-- transaction as the ticket change it announces.
-- depends: 0041.ticketing-sla-sites

CREATE TABLE notification_channels (
    id           bigserial PRIMARY KEY,
    engineer_id  bigint REFERENCES engineers (id),
    role         text CHECK (role IN ('dispatcher', 'supervisor', 'admin')),
    url          text NOT NULL,                  -- an Apprise URL; may hold secrets, never logged
    label        text NOT NULL DEFAULT '',
    events       text[] NOT NULL DEFAULT '{*}',  -- assigned, sla_warning, breach, escalation, ...
    locale       text NOT NULL DEFAULT 'en' CHECK (locale IN ('en', 'zh_CN')),
    quiet_start  time,                            -- non-urgent messages wait until quiet_end
    quiet_end    time,
    timezone     text NOT NULL DEFAULT 'UTC',
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL,
    CHECK ((engineer_id IS NULL) <> (role IS NULL)),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);
CREATE INDEX notification_channels_engineer_idx ON notification_channels (engineer_id);

-- Who is on call: members take turns of period_hours from handoff_at; the next member is the
-- secondary; an unacknowledged page climbs primary -> secondary -> supervisor every ack_minutes.
CREATE TABLE oncall_rotations (
    id             bigserial PRIMARY KEY,
    name           text NOT NULL,
    site           text NOT NULL DEFAULT '*',
    members        bigint[] NOT NULL CHECK (cardinality(members) >= 1),
    handoff_at     timestamptz NOT NULL,
    period_hours   integer NOT NULL DEFAULT 168 CHECK (period_hours > 0),
    ack_minutes    integer NOT NULL DEFAULT 15 CHECK (ack_minutes > 0),
    supervisor_id  bigint REFERENCES engineers (id),
    created_at     timestamptz NOT NULL
);

CREATE TABLE escalation_chains (
    id               bigserial PRIMARY KEY,
    ticket_id        bigint NOT NULL REFERENCES tickets (id),
    rotation_id      bigint REFERENCES oncall_rotations (id),
    reason           text NOT NULL,
    chain            bigint[] NOT NULL,             -- engineers in paging order
    level            integer NOT NULL DEFAULT 0,    -- index into chain paged last
    started_at       timestamptz NOT NULL,
    next_at          timestamptz,                   -- when the next level is paged (null: done)
    acknowledged_at  timestamptz,
    acknowledged_by  text
);
CREATE INDEX escalation_chains_due_idx ON escalation_chains (next_at)
    WHERE acknowledged_at IS NULL AND next_at IS NOT NULL;
CREATE INDEX escalation_chains_ticket_idx ON escalation_chains (ticket_id);

CREATE TABLE notification_outbox (
    id               bigserial PRIMARY KEY,
    channel_id       bigint NOT NULL REFERENCES notification_channels (id),
    event            text NOT NULL,
    ticket_id        bigint REFERENCES tickets (id),
    chain_id         bigint REFERENCES escalation_chains (id),
    title            text NOT NULL,
    body             text NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    last_error       text,
    created_at       timestamptz NOT NULL,
    delivered_at     timestamptz
);
CREATE INDEX notification_outbox_due_idx ON notification_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_outbox_ticket_idx ON notification_outbox (ticket_id);
