"""Reading YAML safely: duplicate keys refused, impossible dates reported where they are, and anchors /
aliases bounded so a "billion laughs" document fails at once instead of expanding for minutes.

Every YAML file pql reads goes through :func:`compose` (config today; any future YAML input too).
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_EXPANDED_NODES = 100_000  # a real config has a few hundred; aliases may not blow it up past this


class YamlProblem(yaml.MarkedYAMLError):
    """A YAML document that parses but must not be used (with the mark of the culprit and a hint)."""

    def __init__(self, problem: str, mark: yaml.Mark | None, hint: str):
        super().__init__(problem=problem, problem_mark=mark)
        self.hint = hint


class _Loader(yaml.SafeLoader):
    def __init__(self, stream: str):
        super().__init__(stream)
        self.alias_uses: list[tuple[yaml.Mark, yaml.Node]] = []

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        mark = self.peek_event().start_mark if self.check_event(yaml.AliasEvent) else None
        node = super().compose_node(parent, index)
        if mark is not None and node is not None:
            self.alias_uses.append((mark, node))
        return node


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise YamlProblem("a key must be a plain name, not a list or mapping", key_node.start_mark,
                              "Write the key as text (e.g. `name:`).")
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            first = seen[key].start_mark
            raise YamlProblem(
                f"duplicate key {key!r} (first defined at line {first.line + 1})",
                key_node.start_mark,
                "Keep one of them: YAML would silently use the last.",
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


def _construct_timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise YamlProblem(
            f"{node.value!r} is not a real date or time ({exc})",
            node.start_mark,
            "Write a date that exists, as YYYY-MM-DD (e.g. 2026-11-30), or a time as 2026-11-30T12:00:00Z.",
        ) from None


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def _expanded_sizes(root: yaml.Node) -> dict[int, int]:
    """Node id -> number of nodes it stands for once every alias is expanded (memoised: linear time)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise YamlProblem("an alias refers to the node that contains it", node.start_mark, "Remove the recursion.")
        active.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        total = 1 + sum(size(c) for c in children)
        active.discard(key)
        sizes[key] = total
        return total

    size(root)
    return sizes


def _check_aliases(root: yaml.Node, uses: list[tuple[yaml.Mark, yaml.Node]], limit: int) -> None:
    if not uses:
        return
    sizes = _expanded_sizes(root)
    if sizes[id(root)] <= limit:
        return
    mark, _ = max(uses, key=lambda use: sizes.get(id(use[1]), 0))
    raise YamlProblem(
        f"the YAML anchors and aliases (&name / *name) expand to more than {limit:,} values",
        mark,
        "Write the values out, or use aliases only for small repeated blocks.",
    )


def compose(text: str, *, limit: int = MAX_EXPANDED_NODES) -> tuple[yaml.Node | None, Any]:
    """Parse one YAML document: its node tree (for line/column) and its data.

    Raises :class:`yaml.MarkedYAMLError` (:class:`YamlProblem` carries a hint) for invalid or unsafe YAML.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_aliases(node, loader.alias_uses, limit)
        return node, loader.construct_document(node)
    except RecursionError:
        raise YamlProblem("the YAML is nested too deeply", None, "Flatten the structure.") from None
    finally:
        loader.dispose()
