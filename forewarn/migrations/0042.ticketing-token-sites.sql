-- Optional site scopes on API tokens (issue 14 item 8): NULL means every site (as before);
-- a list limits the token to tickets, assets, KPIs and policies of those sites.
-- depends: 0041.ticketing-sla-sites

ALTER TABLE api_tokens ADD COLUMN sites text[]
    CHECK (sites IS NULL OR (cardinality(sites) > 0 AND array_position(sites, NULL) IS NULL));
