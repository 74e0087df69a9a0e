-- Customer sign-off on completion (issue 16): after resolution the customer confirms the work
-- on the tracking page with their name, a "done to my satisfaction" tick and/or a drawn
-- signature (PNG). One per ticket; the event itself is also in the audit chain.
-- depends: 0063.attachment-files

CREATE TABLE ticket_signoffs (
    ticket_id         bigint PRIMARY KEY REFERENCES tickets (id),
    name              text NOT NULL,
    satisfied         boolean NOT NULL,
    signature         bytea,                 -- PNG as drawn on the page, checked by Pillow
    signature_sha256  text,                  -- also in the audit event, to prove the image
    created_at        timestamptz NOT NULL
);

ALTER TABLE customer_submissions DROP CONSTRAINT customer_submissions_kind_check;
ALTER TABLE customer_submissions ADD CONSTRAINT customer_submissions_kind_check
    CHECK (kind IN ('report', 'reply', 'rating', 'signoff'));
