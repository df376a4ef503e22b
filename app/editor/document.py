"""The editable form of one workflow file, and its round trip back to text.

We edit the parsed data (plain dicts, in file order) rather than the frozen
``automation.model.Workflow``: a file being edited is often not valid yet (a
required input still empty, a half-typed duration), and the editor must hold
and show it anyway.  Validation reads the document; it never gates editing.

Saving keeps the user's file: when the data equals what was last read or
saved, the original text is written back unchanged, byte for byte; otherwise
``automation.roundtrip.update_text`` changes only the lines of what changed
(comments, quoting, key order, blank lines, untouched links and CRLF line
endings survive).  A document that has no text yet (a new workflow) is
written as YAML in the order it is held, in the style people write by hand
(short lists and maps in flow style, multi-line text as ``|`` blocks).

This module imports no Qt so that it can be tested and reused on its own.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import yaml
from pydantic import ValidationError

from automation.errors import ValidationIssue, WorkflowError, WorkflowInvalid
from automation.loader import WorkflowLoader, parse_document
from automation.model import FORMAT_VERSION, NAME_PATTERN, Link
from automation.roundtrip import RoundTripError, update_text

_NAME = re.compile(NAME_PATTERN)

#: Key order for top-level keys the file does not have yet.
TOP_LEVEL_ORDER: Final = (
    "deskpilot", "name", "description", "inputs", "vars", "defaults", "limits",
    "nodes", "links", "outputs", "triggers",
)  # fmt: skip
#: Key order for node keys a node does not have yet.
NODE_KEY_ORDER: Final = (
    "block", "title", "notes", "with", "retry", "timeout", "disabled", "break", "position",
)  # fmt: skip


class _Unset:
    """Marks a key that is absent (distinct from a key whose value is null)."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _Unset()


# -- change events ---------------------------------------------------------------
@dataclass(frozen=True)
class NodeAdded:
    node_id: str


@dataclass(frozen=True)
class NodeRemoved:
    node_id: str


@dataclass(frozen=True)
class NodeChanged:
    """A key of a node changed (``with``, ``position``, ``title``, ``retry``...)."""

    node_id: str
    key: str


@dataclass(frozen=True)
class LinkAdded:
    link: Link


@dataclass(frozen=True)
class LinkRemoved:
    link: Link


@dataclass(frozen=True)
class DocumentReset:
    """Too much changed to describe piecemeal (a rename, a restore): redraw everything."""


DocumentEvent = NodeAdded | NodeRemoved | NodeChanged | LinkAdded | LinkRemoved | DocumentReset
Listener = Callable[[DocumentEvent], None]


@dataclass(frozen=True)
class Snapshot:
    """A copy of a document's editable state, for commands too complex to invert piecemeal."""

    data: dict[str, Any]
    nodes: dict[str, dict[str, Any]]
    links: tuple[Link, ...]


# -- YAML writing --------------------------------------------------------------------
class _Dumper(yaml.SafeDumper):
    """Writes YAML the way the example workflows are written by hand."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # indent list items under their key ("links:\n  - a -> b"), as people do
        super().increase_indent(flow, False)


_SCALARS = (str, int, float, bool, type(None))
_FLOW_LIMIT = 80


def _flat(items: Iterator[Any]) -> bool:
    return all(isinstance(item, _SCALARS) and not (isinstance(item, str) and "\n" in item)
               for item in items)  # fmt: skip


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style: str | None = None
    if "\n" in value and not value.endswith((" ", "\t")):
        style = "|"
    elif "{{" in value or "{%" in value:
        style = '"'  # templates read best quoted, as in the examples
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _flow_width(items: Iterator[Any]) -> int:
    """Roughly how wide a flow-style rendering is (exactness does not matter here)."""
    return sum(len(str(item)) + 2 for item in items)


def _represent_list(dumper: yaml.SafeDumper, value: list[Any] | tuple[Any, ...]) -> yaml.Node:
    flow = not value or (_flat(iter(value)) and _flow_width(iter(value)) <= _FLOW_LIMIT)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


def _represent_dict(dumper: yaml.SafeDumper, value: dict[Any, Any]) -> yaml.Node:
    flow = not value or (
        _flat(iter(value.values()))
        and _flow_width(iter([*value.keys(), *value.values()])) <= _FLOW_LIMIT
    )
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=flow)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(tuple, _represent_list)
_Dumper.add_representer(dict, _represent_dict)


class _BlockMap(dict[str, Any]):
    """A mapping always written one key per line (the top level, nodes, ``with``)."""


class _BlockList(list[Any]):
    """A list always written one item per line (``links``)."""


def _represent_block_map(dumper: yaml.SafeDumper, value: _BlockMap) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=False)


def _represent_block_list(dumper: yaml.SafeDumper, value: _BlockList) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=False)


_Dumper.add_representer(_BlockMap, _represent_block_map)
_Dumper.add_representer(_BlockList, _represent_block_list)


def _shape(data: Mapping[str, Any]) -> _BlockMap:
    """Wrap what must be written in block style; everything deeper may use flow style."""
    top = _BlockMap()
    for key, value in data.items():
        if key == "nodes" and isinstance(value, dict):
            top[key] = _BlockMap(
                (node_id, _shape_node(node) if isinstance(node, dict) else node)
                for node_id, node in value.items()
            )
        elif key in ("links", "triggers") and isinstance(value, list):
            top[key] = _BlockList(value)
        elif isinstance(value, dict) and value:
            top[key] = _BlockMap(value)
        else:
            top[key] = value
    return top


def _shape_node(node: dict[str, Any]) -> _BlockMap:
    shaped = _BlockMap(node)
    if isinstance(node.get("with"), dict) and node["with"]:
        shaped["with"] = _BlockMap(node["with"])
    return shaped


def dump_yaml(data: Mapping[str, Any]) -> str:
    """YAML text for workflow data, in the order given; ``yaml.safe_load`` gives it back."""
    return yaml.dump(_shape(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096)


def leading_comments(text: str) -> str:
    """The comment block at the top of a file (kept when a changed file is rewritten)."""
    lines: list[str] = []
    for line in text.splitlines(True):
        if line.startswith("#") or (lines and not line.strip()):
            lines.append(line)
        else:
            break
    while lines and not lines[-1].strip():
        lines.pop()
    return "".join(lines)


# -- reading -----------------------------------------------------------------------------
def _has_duplicate_keys(root: yaml.Node) -> bool:
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            keys = [str(key.value) for key, _value in node.value]
            if len(keys) != len(set(keys)):
                return True
            stack.extend(value for _key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return False


def parse_text(text: str, path: Path | None = None) -> Any:
    """Workflow text to data, with libyaml when it is there (about 10x faster on big files).

    Anything unusual (a syntax error, a duplicate key, JSON) goes through
    ``automation.loader.parse_document`` so that errors read exactly as the
    CLI's do.
    """
    if not text.lstrip().startswith("{"):
        loader = WorkflowLoader(text)  # libyaml, with YAML 1.2 booleans as the engine reads them
        try:
            root = loader.get_single_node()
            if root is not None and not _has_duplicate_keys(root):
                return loader.construct_document(root)
        except yaml.YAMLError:
            pass
        finally:
            loader.dispose()
    data, _lines = parse_document(text, str(path) if path else None)
    return data


# -- the document --------------------------------------------------------------------
def _bad_structure(message: str, path: Path | None, hint: str) -> WorkflowInvalid:
    return WorkflowInvalid(
        [ValidationIssue(message=message, file=str(path) if path else None, hint=hint)]
    )


class WorkflowDocument:
    """One workflow being edited: its data, its links, and the text it was read from."""

    def __init__(
        self, data: Mapping[str, Any], *, text: str | None = None, path: Path | None = None
    ) -> None:
        self.path = path
        self._listeners: list[Listener] = []
        self._data: dict[str, Any] = {}
        self._nodes: dict[str, dict[str, Any]] = {}
        self._links: list[Link] = []
        self._load(data)
        self._is_json = text is not None and text.lstrip().startswith("{")
        self._header = leading_comments(text) if text is not None else ""
        self._saved_text = text
        self._saved_data = self.to_data() if text is not None else None

    # -- construction ----------------------------------------------------------------
    @classmethod
    def from_text(cls, text: str, path: Path | None = None) -> WorkflowDocument:
        """Parse text; raise ``WorkflowInvalid`` when it is not an editable workflow.

        Editable means: YAML or JSON that is a mapping whose ``nodes`` map ids
        to mappings with a ``block``, and whose links parse.  Anything else the
        model checks (types, durations, triggers) is left to validation, so that
        such a file can still be opened and fixed in the editor.
        """
        data = parse_text(text, path)
        if not isinstance(data, dict):
            raise _bad_structure(
                "a workflow file must be a mapping with at least 'name' and 'nodes'",
                path,
                "start the file with 'name: my-workflow'",
            )
        return cls(data, text=text, path=path)

    @classmethod
    def open(cls, path: Path) -> WorkflowDocument:
        try:
            text = path.read_bytes().decode("utf-8")  # as is: CRLF line endings are kept
        except FileNotFoundError:
            raise WorkflowError(f"{path}: no such workflow file") from None
        except UnicodeDecodeError:
            raise WorkflowError(f"{path}: is not UTF-8 text; save it as UTF-8") from None
        except OSError as exc:
            raise WorkflowError(f"{path}: cannot be read: {exc.strerror}") from None
        return cls.from_text(text, path)

    @classmethod
    def new(cls, name: str, path: Path | None = None) -> WorkflowDocument:
        return cls({"deskpilot": FORMAT_VERSION, "name": name, "nodes": {}}, path=path)

    def _load(self, data: Mapping[str, Any]) -> None:
        path = self.path
        nodes = data.get("nodes") or {}
        if not isinstance(nodes, dict):
            raise _bad_structure(
                "'nodes' must be a mapping of node id to node", path, "write 'nodes:' then "
                "one 'id:' per node, each with a 'block:'",
            )  # fmt: skip
        for node_id, node in nodes.items():
            if not isinstance(node, dict) or not isinstance(node.get("block"), str):
                raise _bad_structure(
                    f"node '{node_id}' must be a mapping with a 'block'",
                    path,
                    f"write '{node_id}:' then 'block: some.block' indented below it",
                )
        raw_links = data.get("links") or []
        if not isinstance(raw_links, list):
            raise _bad_structure(
                "'links' must be a list", path, "write one '- a.pin -> b.pin' per line"
            )
        links = []
        for raw in raw_links:
            try:
                links.append(Link.model_validate(raw))
            except ValidationError as exc:
                raise _bad_structure(
                    f"link {raw!r} cannot be read: {exc.errors()[0]['msg']}",
                    path,
                    "write links as 'node.pin -> node.pin'",
                ) from None
        self._data = copy.deepcopy(dict(data))
        self._nodes = {str(k): copy.deepcopy(v) for k, v in nodes.items()}
        self._links = links

    # -- reading ---------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self._data.get("name") or (self.path.stem if self.path else "untitled"))

    @property
    def nodes(self) -> Mapping[str, Mapping[str, Any]]:
        return MappingProxyType(self._nodes)

    def node(self, node_id: str) -> Mapping[str, Any]:
        return MappingProxyType(self._nodes[node_id])

    def node_inputs(self, node_id: str) -> Mapping[str, Any]:
        value = self._nodes[node_id].get("with")
        return MappingProxyType(value if isinstance(value, dict) else {})

    @property
    def links(self) -> tuple[Link, ...]:
        return tuple(self._links)

    def value(self, key: str) -> Any:
        """A top-level value (``inputs``, ``vars``, ``outputs``...), or None."""
        return copy.deepcopy(self._data.get(key))

    def links_of(self, node_id: str) -> list[Link]:
        return [link for link in self._links if node_id in (link.source, link.target)]

    def ancestors(self, node_id: str) -> list[str]:
        """Nodes upstream of ``node_id`` (what its templates may read), nearest first."""
        seen: list[str] = []
        frontier = [node_id]
        while frontier:
            current = frontier.pop(0)
            for link in self._links:
                if link.target == current and link.source not in seen and link.source != node_id:
                    seen.append(link.source)
                    frontier.append(link.source)
        return seen

    def unique_node_id(self, base: str, taken: set[str] | None = None) -> str:
        """``base`` made a valid, unused node id (``write``, ``write_2``...)."""
        cleaned = re.sub(r"[^A-Za-z0-9_]", "_", base) or "node"
        if not re.match(r"[A-Za-z_]", cleaned):
            cleaned = "n_" + cleaned
        used = set(self._nodes) | (taken or set())
        if cleaned not in used:
            return cleaned
        stem = re.sub(r"_\d+$", "", cleaned)
        number = 2
        while f"{stem}_{number}" in used:
            number += 1
        return f"{stem}_{number}"

    @staticmethod
    def is_valid_node_id(node_id: str) -> bool:
        return bool(_NAME.match(node_id))

    # -- listening -------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def _emit(self, event: DocumentEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    # -- editing (commands call these; each is undone by another) ------------------------
    def add_node(self, node_id: str, node: Mapping[str, Any], index: int | None = None) -> None:
        if node_id in self._nodes:
            raise ValueError(f"node '{node_id}' already exists")
        items = list(self._nodes.items())
        position = len(items) if index is None else index
        items.insert(position, (node_id, copy.deepcopy(dict(node))))
        self._nodes = dict(items)
        self._emit(NodeAdded(node_id))

    def remove_node(self, node_id: str) -> tuple[int, dict[str, Any]]:
        """Remove a node that has no links left; return its index and data for undo."""
        if self.links_of(node_id):
            raise ValueError(f"node '{node_id}' still has links; remove them first")
        index = list(self._nodes).index(node_id)
        node = self._nodes.pop(node_id)
        self._emit(NodeRemoved(node_id))
        return index, node

    def set_node_key(self, node_id: str, key: str, value: Any) -> Any:
        """Set (or with ``UNSET`` remove) one key of a node; return the previous value."""
        node = self._nodes[node_id]
        old = copy.deepcopy(node.get(key, UNSET))
        if value is UNSET:
            node.pop(key, None)
        elif key in node:
            node[key] = copy.deepcopy(value)
        else:
            self._nodes[node_id] = _insert_ordered(node, key, copy.deepcopy(value), NODE_KEY_ORDER)
        self._emit(NodeChanged(node_id, key))
        return old

    def set_input(self, node_id: str, name: str, value: Any) -> Any:
        """Set (or with ``UNSET`` remove) one input under ``with``; return the previous value."""
        current = self._nodes[node_id].get("with")
        inputs: dict[str, Any] = dict(current) if isinstance(current, dict) else {}
        old = copy.deepcopy(inputs.get(name, UNSET))
        if value is UNSET:
            inputs.pop(name, None)
        else:
            inputs[name] = copy.deepcopy(value)
        self.set_node_key(node_id, "with", inputs if inputs else UNSET)
        return old

    def move_node(self, node_id: str, position: tuple[float, float] | None) -> None:
        value: Any = UNSET if position is None else [round(position[0]), round(position[1])]
        self.set_node_key(node_id, "position", value)

    def add_link(self, link: Link, index: int | None = None) -> None:
        if link in self._links:
            raise ValueError(f"link '{link}' already exists")
        self._links.insert(len(self._links) if index is None else index, link)
        self._emit(LinkAdded(link))

    def remove_link(self, link: Link) -> int:
        index = self._links.index(link)
        del self._links[index]
        self._emit(LinkRemoved(link))
        return index

    def set_value(self, key: str, value: Any) -> Any:
        """Set (or remove) a top-level key such as ``name`` or ``outputs``; return the old value."""
        old = copy.deepcopy(self._data.get(key, UNSET))
        if value is UNSET:
            self._data.pop(key, None)
        elif key in self._data:
            self._data[key] = copy.deepcopy(value)
        else:
            self._data = _insert_ordered(self._data, key, copy.deepcopy(value), TOP_LEVEL_ORDER)
        self._emit(DocumentReset())
        return old

    def snapshot(self) -> Snapshot:
        return Snapshot(copy.deepcopy(self._data), copy.deepcopy(self._nodes), tuple(self._links))

    def restore(self, snapshot: Snapshot) -> None:
        self._data = copy.deepcopy(snapshot.data)
        self._nodes = copy.deepcopy(snapshot.nodes)
        self._links = list(snapshot.links)
        self._emit(DocumentReset())

    def rename_node(self, old: str, new: str) -> None:
        """Rename a node, its links, and ``nodes.<old>`` in every template that reads it."""
        if new in self._nodes:
            raise ValueError(f"node '{new}' already exists")
        if not self.is_valid_node_id(new):
            raise ValueError(f"'{new}' is not a valid node id")
        self._nodes = {(new if k == old else k): v for k, v in self._nodes.items()}
        self._links = [_rename_in_link(link, old, new) for link in self._links]
        pattern = re.compile(rf"\bnodes\.{re.escape(old)}\b")
        self._nodes = {
            k: _rewrite_strings(v, pattern, f"nodes.{new}") for k, v in self._nodes.items()
        }
        if "outputs" in self._data:
            self._data["outputs"] = _rewrite_strings(self._data["outputs"], pattern, f"nodes.{new}")
        self._emit(DocumentReset())

    # -- writing ---------------------------------------------------------------------
    def to_data(self) -> dict[str, Any]:
        """The document as file data, top-level keys in file order."""
        data = dict(self._data)
        if self._nodes or "nodes" in data:
            if "nodes" not in data:
                data = _insert_ordered(data, "nodes", None, TOP_LEVEL_ORDER)
            data["nodes"] = self._nodes
        if self._links or "links" in data:
            if "links" not in data:
                data = _insert_ordered(data, "links", None, TOP_LEVEL_ORDER)
            data["links"] = [str(link) for link in self._links]
        return copy.deepcopy(data)

    @property
    def is_modified(self) -> bool:
        return self._saved_data is None or self.to_data() != self._saved_data

    def to_text(self) -> str:
        """The text to save: the file's text with only what changed changed."""
        data = self.to_data()
        if self._saved_text is not None and data == self._saved_data:
            return self._saved_text
        if self._saved_text is not None:
            try:
                return update_text(self._saved_text, data)
            except RoundTripError:
                pass  # not a mapping we can edit in place: write it whole, as below
        if self._is_json:
            return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        body = dump_yaml(data)
        return self._header + body

    def mark_saved(self, text: str, path: Path | None = None) -> None:
        """Record that ``text`` is now what the file holds."""
        if path is not None:
            self.path = path
        self._saved_text = text
        self._saved_data = self.to_data()


def _insert_ordered(
    mapping: dict[str, Any], key: str, value: Any, order: tuple[str, ...]
) -> dict[str, Any]:
    """``mapping`` with ``key`` added before the first existing key that comes after it."""
    rank = {name: i for i, name in enumerate(order)}
    mine = rank.get(key, len(order))
    items = list(mapping.items())
    for position, (existing, _value) in enumerate(items):
        if rank.get(existing, -1) > mine:
            items.insert(position, (key, value))
            break
    else:
        items.append((key, value))
    return dict(items)


def _rename_in_link(link: Link, old: str, new: str) -> Link:
    return Link(
        source=new if link.source == old else link.source,
        source_pin=link.source_pin,
        target=new if link.target == old else link.target,
        target_pin=link.target_pin,
    )


def _rewrite_strings(value: Any, pattern: re.Pattern[str], replacement: str) -> Any:
    if isinstance(value, str):
        return pattern.sub(replacement, value) if "{" in value else value
    if isinstance(value, list):
        return [_rewrite_strings(item, pattern, replacement) for item in value]
    if isinstance(value, dict):
        return {k: _rewrite_strings(v, pattern, replacement) for k, v in value.items()}
    return value
