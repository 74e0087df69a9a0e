"""OPC UA node maps: which node of a server feeds which telemetry metric.

A node map is to an OPC UA server what a register map is to a Modbus device: one YAML file
per machine model, written by hand, so a bad one is refused at start with its file, line
and key. Nodes are named by node id (``ns=2;s=Pump.Speed``, ``nsu=urn:acme;i=7``) or by a
browse path relative to the asset's root node, which lets one map serve every machine of
a model whatever its node ids are.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from forewarn.contract.topics import ID_PATTERN
from forewarn.registers.source import (
    Problem,
    SourceError,
    key_name,
    load_yaml,
    validate_document,
)

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
# The node id forms of OPC UA Part 6 §5.3.1.10: optional ns=/nsu=, then i= s= g= b=.
NODE_ID = re.compile(r"^(?:(?:ns=\d+|nsu=[^;]+);)?(?:i=\d+|s=.+|g=[0-9a-fA-F-]{36}|b=\S+)$")
# A browse name, optionally qualified by a namespace index: "2:Speed" or "Speed".
BROWSE_NAME = re.compile(r"^(?:\d+:)?[^/]+$")


class NodeMapError(SourceError):
    """A node map file is refused."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeSpec(_Strict):
    """One OPC UA variable → one metric: ``metric = raw * scale + offset``."""

    metric: Id
    node_id: str | None = Field(None, description="absolute node id, e.g. ns=2;s=Pump.Speed")
    browse_path: list[str] | None = Field(
        None, min_length=1, description="browse names from the asset's root node"
    )
    scale: float = 1.0
    offset: float = 0.0
    deadband: float = Field(0.0, ge=0, description="absolute, in engineering units")
    unit: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _one_address(self) -> NodeSpec:
        if (self.node_id is None) == (self.browse_path is None):
            raise ValueError("give exactly one of node_id and browse_path")
        if self.node_id is not None and not NODE_ID.match(self.node_id):
            raise ValueError(f"node_id {self.node_id!r} is not an OPC UA node id (ns=2;s=Name)")
        for name in self.browse_path or []:
            if not BROWSE_NAME.match(name):
                raise ValueError(f"browse name {name!r}: use 'Name' or 'ns:Name', no '/'")
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        return self

    def engineering(self, raw: float) -> float:
        return raw * self.scale + self.offset

    @property
    def address(self) -> str:
        """How people name this node in messages."""
        return self.node_id or "/".join(self.browse_path or [])


class NodeMap(_Strict):
    """A machine model's OPC UA nodes."""

    nodemap: Id
    asset_class: Id
    vendor: str | None = None
    model: str | None = None
    namespace: str | None = Field(
        None, description="namespace URI for browse names without an 'ns:' prefix"
    )
    description: str | None = None
    nodes: list[NodeSpec] = Field(min_length=1, max_length=10_000)


def load_nodemap(path: str | Path) -> NodeMap:
    """Load and check a node map; a bad one raises NodeMapError with file, line and key."""
    where = str(path)
    data, marks = load_yaml(path, NodeMapError)
    nm = validate_document(NodeMap, data, marks, where, NodeMapError, "a node map")
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, node in enumerate(nm.nodes):
        for value, what in ((node.metric, "metric"), (node.address, "node")):
            key = f"{what}:{value}"
            if key in seen:
                problems.append(
                    Problem(
                        key_name(("nodes", i, "metric" if what == "metric" else "node_id")),
                        f"duplicate {what} {value!r} (also nodes[{seen[key]}])",
                        marks.line(("nodes", i)),
                    )
                )
            seen.setdefault(key, i)
        if node.browse_path and nm.namespace is None:
            bare = [n for n in node.browse_path if ":" not in n]
            if bare:
                problems.append(
                    Problem(
                        key_name(("nodes", i, "browse_path")),
                        f"browse name {bare[0]!r} has no 'ns:' prefix and the map has no namespace",
                        marks.line(("nodes", i, "browse_path")),
                    )
                )
    if problems:
        raise NodeMapError(where, problems)
    return nm
