-- Photos stored by the service itself (issue 16): where the file and its thumbnail are kept
-- (relative to the attachments directory) and the image size. A re-sent photo (an offline
-- queue syncing twice) finds its first copy by content hash.
-- depends: 0062.customer

ALTER TABLE attachments ADD COLUMN storage_key text;
ALTER TABLE attachments ADD COLUMN thumb_key text;
ALTER TABLE attachments ADD COLUMN width integer;
ALTER TABLE attachments ADD COLUMN height integer;
CREATE UNIQUE INDEX attachments_stored_once ON attachments (ticket_id, sha256)
    WHERE storage_key IS NOT NULL;
