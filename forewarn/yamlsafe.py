"""YAML as this project reads it: safe, and without anchors or aliases.

Aliases let a few lines expand into gigabytes (the "billion laughs") or refer to themselves
(PyYAML then fails with a traceback); no Forewarn file needs them, so every YAML the project
reads (settings, register maps, gateway and detector configuration) goes through here and an
alias is refused at its line, before anything is expanded.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.nodes import Node

__all__ = ["Loader", "compose", "load"]


class Loader(yaml.SafeLoader):
    """PyYAML's SafeLoader that refuses anchors and aliases while composing."""

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ComposerError(
                None, None, "aliases (*name) are not allowed in Forewarn YAML", event.start_mark
            )
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise ComposerError(
                None,
                None,
                f"anchors (&{anchor}) are not allowed in Forewarn YAML",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def load(text: str) -> Any:
    """Parse one YAML document; raises yaml.YAMLError (with a mark) on anything refused."""
    return yaml.load(text, Loader=Loader)


def compose(text: str) -> Node | None:
    """The node tree (with line marks) of one YAML document, aliases refused."""
    return yaml.compose(text, Loader=Loader)
