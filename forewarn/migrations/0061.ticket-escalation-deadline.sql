-- An engineer who gets a ticket by escalation gets a deadline of their own (issue 16): the
-- response minutes of the ticket's (raised) priority, counted from the reassignment.
-- depends: 0060.notifications

ALTER TABLE tickets ADD COLUMN escalation_due timestamptz;
ALTER TABLE tickets ADD COLUMN escalated_at timestamptz;
CREATE INDEX tickets_escalation_due_idx ON tickets (escalation_due) WHERE escalation_due IS NOT NULL;
