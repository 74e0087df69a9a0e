-- Alarm episodes (issue 13): an anomaly event may name the detector's episode; its later
-- events (a spike, an escalation, a revised fault mode) update the ticket the episode opened
-- instead of opening another. Intake finds that ticket by the episode of earlier events.
-- depends: 0064.customer-signoff

ALTER TABLE ticket_anomalies ADD COLUMN episode text;
CREATE INDEX ticket_anomalies_episode_idx ON ticket_anomalies (asset, episode)
    WHERE episode IS NOT NULL;
