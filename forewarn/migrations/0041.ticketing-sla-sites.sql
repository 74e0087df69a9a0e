-- SLA policies per site (optional): a row for a site overrides the default row (site '*').
-- depends: 0040.ticketing

ALTER TABLE sla_policies ADD COLUMN site text NOT NULL DEFAULT '*';
ALTER TABLE sla_policies DROP CONSTRAINT sla_policies_pkey;
ALTER TABLE sla_policies ADD PRIMARY KEY (priority, site);
