"""The frozen base of every detector configuration model (unknown keys are errors)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """A configuration block: immutable (it is hashed into every event) and strict."""

    model_config = ConfigDict(extra="forbid", frozen=True)
