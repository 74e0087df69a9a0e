-- Site scope of a role's notification channel: NULL means every site (as before); a list
-- limits the channel to news of those sites (a store's low stock, a ticket's breach or
-- escalation), like api_tokens.sites. A site-scoped token's role channel gets its sites.
-- depends: 0066.asset-health

ALTER TABLE notification_channels ADD COLUMN sites text[]
    CHECK (sites IS NULL OR (cardinality(sites) > 0 AND array_position(sites, NULL) IS NULL));
