"""YAML as this project reads it: PyYAML's safe loader with aliases bounded.

Aliases are useful (the shipped detector classes share settings through them), but a few
lines of them can expand into gigabytes (the "billion laughs") or refer to themselves
(PyYAML then fails with a traceback). So every YAML the project reads (settings, register
maps, gateway and detector configuration) goes through here: the document is composed (linear
in its text), its expanded size is counted over the node graph (each aliased node counted
once per use, without building anything), and a cycle or a document that would expand past
``MAX_NODES`` is refused at its line before anything is constructed.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.nodes import MappingNode, Node, SequenceNode

__all__ = ["MAX_NODES", "Loader", "compose", "load"]

MAX_NODES = 250_000


class Loader(yaml.SafeLoader):
    """PyYAML's SafeLoader; :func:`load` and :func:`compose` bound what its aliases expand to."""


def _expanded(node: Node, memo: dict[int, int], stack: set[int]) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    if key in stack:
        raise ComposerError(
            None, None, "an alias refers to the node that contains it", node.start_mark
        )
    stack.add(key)
    if isinstance(node, SequenceNode):
        children: list[Node] = list(node.value)
    elif isinstance(node, MappingNode):
        children = [part for pair in node.value for part in pair]
    else:
        children = []
    size = 1
    for child in children:
        size += _expanded(child, memo, stack)
        if size > MAX_NODES:
            raise ComposerError(
                None,
                None,
                f"aliases expand this document past {MAX_NODES:,} nodes",
                node.start_mark,
            )
    stack.discard(key)
    memo[key] = size
    return size


def compose(text: str) -> Node | None:
    """The node tree (with line marks) of one YAML document, its expansion bounded."""
    loader = Loader(text)
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    if node is not None:
        _expanded(node, {}, set())
    return node


def load(text: str) -> Any:
    """Parse one YAML document; raises yaml.YAMLError (with a mark) on anything refused."""
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded(node, {}, set())
        return loader.construct_document(node)
    finally:
        loader.dispose()
