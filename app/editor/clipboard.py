"""Copy and paste of nodes as a YAML fragment (``nodes:`` and ``links:``, as in a file).

The fragment is plain workflow YAML, so it can be pasted into a text editor
or from one.  Pasted nodes whose ids are taken get new ids, and the links and
templates among the pasted nodes follow the new names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

from app.editor.document import WorkflowDocument, dump_yaml
from automation.model import Link

PASTE_OFFSET = 40.0


def copy_fragment(document: WorkflowDocument, node_ids: Iterable[str]) -> str:
    """YAML for the given nodes and the links among them."""
    wanted = [nid for nid in document.nodes if nid in set(node_ids)]
    nodes = {nid: dict(document.nodes[nid]) for nid in wanted}
    links = [str(link) for link in document.links
             if link.source in nodes and link.target in nodes]  # fmt: skip
    data: dict[str, Any] = {"nodes": nodes}
    if links:
        data["links"] = links
    return dump_yaml(data)


def parse_fragment(
    document: WorkflowDocument,
    text: str,
    positions: dict[str, tuple[float, float]] | None = None,
) -> tuple[dict[str, dict[str, Any]], list[Link]] | None:
    """Nodes and links to add for pasted text, or None when it is not a node fragment.

    ``positions`` are where the copied nodes are shown now (nodes the file
    does not place have a position on screen only); pasted nodes land offset
    from there so they do not hide the originals.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        return None
    raw_nodes: dict[str, Any] = data["nodes"]
    if not all(isinstance(n, dict) and isinstance(n.get("block"), str) for n in raw_nodes.values()):
        return None
    renames: dict[str, str] = {}
    taken: set[str] = set()
    for old in raw_nodes:
        new = document.unique_node_id(str(old), taken)
        renames[str(old)] = new
        taken.add(new)
    nodes: dict[str, dict[str, Any]] = {}
    for old, node in raw_nodes.items():
        copy = _rename_refs(dict(node), renames)
        where = (positions or {}).get(str(old)) or _position(node.get("position"))
        if where is not None:
            copy["position"] = [round(where[0] + PASTE_OFFSET), round(where[1] + PASTE_OFFSET)]
        nodes[renames[str(old)]] = copy
    links: list[Link] = []
    for raw in data.get("links") or []:
        try:
            link = Link.model_validate(raw)
        except ValueError:
            continue
        if link.source in renames and link.target in renames:
            links.append(
                Link(
                    source=renames[link.source],
                    source_pin=link.source_pin,
                    target=renames[link.target],
                    target_pin=link.target_pin,
                )  # fmt: skip
            )
    return nodes, links


def _position(value: Any) -> tuple[float, float] | None:
    if isinstance(value, list | tuple) and len(value) == 2:
        try:
            return float(value[0]), float(value[1])
        except (TypeError, ValueError):
            return None
    return None


def _rename_refs(value: Any, renames: dict[str, str]) -> Any:
    changed = {old: new for old, new in renames.items() if old != new}
    if not changed:
        return value
    pattern = re.compile(r"\bnodes\.(" + "|".join(re.escape(k) for k in changed) + r")\b")

    def rewrite(item: Any) -> Any:
        if isinstance(item, str):
            return pattern.sub(lambda m: f"nodes.{changed[m.group(1)]}", item)
        if isinstance(item, list):
            return [rewrite(x) for x in item]
        if isinstance(item, dict):
            return {k: rewrite(v) for k, v in item.items()}
        return item

    return rewrite(value)
