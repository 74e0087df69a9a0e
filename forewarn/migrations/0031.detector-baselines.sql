-- Detectors: every change of an asset's healthy reference, with who and why (issue 13).
-- depends: 0030.detectors

-- The reference is frozen after commissioning and changes only on purpose: a repair or a
-- "no fault found" resolution (ticketing feedback), or an engineer's
-- `forewarn detectors baseline ASSET --from --to` (state 'requested' until the worker that
-- owns the asset applies it). Automatic changes are written 'applied' with the checkpoint.
CREATE TABLE detector_baselines (
    id            bigserial   PRIMARY KEY,
    asset         text        NOT NULL,
    state         text        NOT NULL CHECK (state IN ('requested', 'applied', 'failed')),
    reason        text        NOT NULL,
    actor         text        NOT NULL,
    ref_from      timestamptz,
    ref_to        timestamptz,
    rows          integer,
    metrics       text[],
    detail        text,
    changed_at    timestamptz,
    worker        text,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    applied_at    timestamptz
);
CREATE UNIQUE INDEX detector_baselines_change_idx ON detector_baselines (asset, changed_at, reason)
    WHERE state = 'applied';
CREATE INDEX detector_baselines_pending_idx ON detector_baselines (asset) WHERE state = 'requested';
