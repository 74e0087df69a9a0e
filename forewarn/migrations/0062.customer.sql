-- The customer's side (issue 16): a per-asset key behind the QR code's report link, a
-- record of public submissions for rate limiting, and the customer's rating of the job.
-- depends: 0061.ticket-escalation-deadline

CREATE TABLE asset_report_keys (
    asset       text PRIMARY KEY REFERENCES assets (asset),
    key         text NOT NULL,                 -- in the QR code's URL; replace it to revoke
    created_at  timestamptz NOT NULL
);

CREATE TABLE customer_submissions (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    client      text NOT NULL,                 -- sha256 of the client address, not the address
    kind        text NOT NULL CHECK (kind IN ('report', 'reply', 'rating'))
);
CREATE INDEX customer_submissions_client_idx ON customer_submissions (client, kind, at);

CREATE TABLE ticket_ratings (
    ticket_id    bigint PRIMARY KEY REFERENCES tickets (id),
    engineer_id  bigint REFERENCES engineers (id),   -- who did the job when it was rated
    score        integer NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment      text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL
);
CREATE INDEX ticket_ratings_engineer_idx ON ticket_ratings (engineer_id);
