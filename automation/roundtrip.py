"""Writing changed workflow data back into the file it came from, keeping the file.

A person's workflow file carries more than its data: comments, quoting, key
order, blank lines, flow or block style, anchors, CRLF line endings, and
links written the long way (``numbers.done -> check``).  Rewriting the file
from the data throws all of that away.  ``update_text`` instead changes the
text only where the data changed:

1. Nodes and link lines that were deleted are cut out of the text, with the
   comment lines directly above them (their own comments) and a blank line
   they would otherwise leave doubled.
2. What is left is read with ruamel.yaml's round-trip loader, the new data is
   merged into that tree (values that did not change keep their node, and so
   their quoting and style; new values copy the style of a sibling), and the
   tree is written twice: once before the merge and once after.
3. The line difference between those two writings is applied to the original
   text.  Lines ruamel.yaml would normalise (spacing inside flow mappings, an
   odd indent) therefore stay exactly as the person wrote them unless the
   edit touches them.

ruamel.yaml is pure Python and needs seconds for a 1,000-node file, so the
usual edits take a shorter way to the same text: libyaml finds the lines of
each changed section and node, and only those go through steps 1 to 3, as a
small document of their own (``_update_changed_nodes``); a new position is
written as one line and read back to check it.  Removing or reordering nodes,
adding a section, and files with aliases take the whole-file way.

JSON files go through step 3 alone, with ``json.dumps`` at the file's own
indent, so they keep their key order and indentation.

ruamel.yaml is imported inside functions: the supervisor imports
``automation`` and must stay light.
"""

from __future__ import annotations

import difflib
import io
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from automation.errors import WorkflowError
from automation.loader import WorkflowLoader
from automation.model import Link

if TYPE_CHECKING:
    from ruamel.yaml import YAML

Path_ = tuple[str | int, ...]

_FLOW_LIMIT = 80
_SCALARS = (str, int, float, bool, type(None))


class RoundTripError(WorkflowError):
    """The file's text cannot be updated in place (the caller rewrites it whole)."""


def update_text(text: str, data: Mapping[str, Any]) -> str:
    """``text`` changed as little as possible so that it holds ``data``.

    ``text`` is the file as last read or saved; ``data`` is the workflow as it
    should now be (plain dicts and lists, keys in the order wanted).  Raises
    ``RoundTripError`` when the text is not a mapping the writer can edit.
    """
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom) :]
    newline = "\r\n" if "\r\n" in body else "\n"
    body = body.replace("\r\n", "\n")
    if body.lstrip().startswith("{"):
        updated = _update_json(body, data)
    else:
        fast = _update_changed_nodes(body, data)
        updated = fast if fast is not None else _update_yaml(body, data)
    return bom + updated.replace("\n", newline)


# -- the common case, fast: only some nodes changed ------------------------------------------
_MAYBE_ALIASES = re.compile(r"(?:^|[\s\[{,:-])[&*][^\s,\[\]{}]|<<\s*:", re.M)


def _update_changed_nodes(text: str, data: Mapping[str, Any]) -> str | None:
    """``text`` with only the changed sections and nodes rewritten, or None to do it whole.

    Moving a node, editing a field, adding a node or a link change a few
    lines.  ruamel.yaml is pure Python and reads a 1,000-node file in
    seconds, so only the lines of what changed go through the round trip:
    libyaml finds where each section and node is, and each changed one is
    updated as a small document of its own.  Removing or reordering nodes,
    adding or removing a section, and files with aliases take the whole-file
    path.
    """
    import yaml

    if _MAYBE_ALIASES.search(text):
        return None  # a node's lines alone may not hold what its aliases refer to
    loader = WorkflowLoader
    try:
        root = yaml.compose(text, Loader=loader)
        old = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode) or not isinstance(old, dict):
        return None
    if list(old) != list(data) or len(root.value) != len(old):
        return None
    lines = text.splitlines(True)
    top = [(str(key.value), key, value) for key, value in root.value]
    edits: list[tuple[int, int, list[str]]] = []
    for index, (key, key_node, value_node) in enumerate(top):
        if key == "links":
            same = [_link_key(i) for i in old[key] or []] == [_link_key(i) for i in data[key] or []]
        else:
            same = _same(old[key], data[key])
        if same:
            continue
        if key_node.start_mark.column != 0:
            return None
        following = index + 1 < len(top)
        end = _own_start(lines, top[index + 1][1].start_mark.line) if following else len(lines)
        if key == "nodes":
            found = _node_edits(lines, value_node, old[key], data[key], end, following)
            if found is None:
                return None
            edits.extend(found)
            continue
        start = key_node.start_mark.line
        try:
            updated = _update_yaml("".join(lines[start:end]), {key: data[key]})
        except RoundTripError:
            return None
        edits.append((start, end, updated.splitlines(True)))
    for start, end, replacement in sorted(edits, reverse=True):
        lines[start:end] = replacement
    return "".join(lines)


def _node_edits(
    lines: list[str], section: Any, nodes: Any, wanted: Any, end: int, following: bool
) -> list[tuple[int, int, list[str]]] | None:
    """(start, end, new lines) for each changed node, and for nodes added at the end."""
    import yaml

    if not isinstance(section, yaml.MappingNode) or section.flow_style:
        return None
    if not isinstance(nodes, dict) or not isinstance(wanted, Mapping) or not nodes:
        return None
    names = list(nodes)
    if list(wanted)[: len(names)] != names:
        return None  # removed or reordered
    added = list(wanted)[len(names) :]
    starts = [key.start_mark.line for key, _value in section.value]
    ends = [_own_start(lines, line) for line in starts[1:]] + [end]
    # added nodes are written with the last two nodes, so their spacing is the file's
    tail = names[-2:] if added else []
    edits: list[tuple[int, int, list[str]]] = []
    values = [value for _key, value in section.value]
    for position, name in enumerate(names):
        if name in tail or _same(nodes[name], wanted[name]):
            continue
        piece = _position_piece(
            lines, starts[position], ends[position], values[position], nodes[name], wanted[name]
        )
        if piece is not None and not _holds(piece, name, wanted[name]):
            piece = None  # never a wrong save: let the round trip do it
        if piece is None:
            piece = _node_piece(
                lines, starts[position], ends[position], {name: wanted[name]}, False
            )
        if piece is None:
            return None
        edits.append((starts[position], ends[position], piece))
    if added:
        first = starts[len(names) - len(tail)]
        piece = _node_piece(
            lines, first, end, {name: wanted[name] for name in [*tail, *added]}, following
        )
        if piece is None:
            return None
        edits.append((first, end, piece))
    return edits


_POSITION_LINE = re.compile(r"^(?P<lead>\s+position:\s*)\[[^\]\n]*\](?P<rest>\s*(#.*)?\n?)$")


def _position_piece(
    lines: list[str], start: int, end: int, value: Any, old: Any, new: Any
) -> list[str] | None:
    """The node's lines with only its ``position`` set, or None when more changed.

    Saving places every node the file left unplaced; a position is one
    ``position: [x, y]`` line, so it is written directly rather than through
    the round trip (1,000 nodes in milliseconds, not seconds).
    """
    import yaml

    if not isinstance(old, dict) or not isinstance(new, Mapping) or "position" not in new:
        return None
    point = new["position"]
    if not (
        isinstance(point, list)
        and len(point) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)
    ):
        return None
    rest_old = {k: v for k, v in old.items() if k != "position"}
    rest_new = {k: v for k, v in new.items() if k != "position"}
    if not _same(rest_old, rest_new) or list(rest_old) != list(rest_new):
        return None
    if not isinstance(value, yaml.MappingNode) or value.flow_style or not value.value:
        return None
    text = f"[{point[0]!r}, {point[1]!r}]"
    piece = list(lines[start:end])
    if "position" in old:
        if list(old)[-1] != "position" and list(new) != list(old):
            return None
        found = [i for i, line in enumerate(piece) if _POSITION_LINE.match(line)]
        if len(found) != 1:
            return None
        match = _POSITION_LINE.match(piece[found[0]])
        assert match is not None
        piece[found[0]] = match.group("lead") + text + match.group("rest")
        return piece
    if list(new)[-1] != "position":
        return None
    indent = " " * value.value[0][0].start_mark.column
    if any(re.search(r"[|>][0-9]*\+", line) for line in piece):
        return None  # a block scalar that keeps its trailing blank lines
    last = min(value.end_mark.line - start, len(piece) - 1)
    while last >= 0 and (not piece[last].strip() or piece[last].lstrip().startswith("#")):
        last -= 1
    if last < 0 or not piece[last].endswith("\n"):
        return None
    piece.insert(last + 1, f"{indent}position: {text}\n")
    return piece


def _holds(piece: list[str], name: str, node: Any) -> bool:
    """Whether ``piece`` (a node's lines) reads back as ``node``."""
    import yaml

    loader = WorkflowLoader
    try:
        data = yaml.load("nodes:\n" + "".join(piece), Loader=loader)  # noqa: S506 - safe
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and _same(data.get("nodes"), {name: node})


def _node_piece(
    lines: list[str], start: int, end: int, nodes: dict[str, Any], following: bool
) -> list[str] | None:
    """``lines[start:end]`` (some nodes) updated to ``nodes`` as a document of their own.

    The lines keep their indentation under a ``nodes:`` line; a stand-in key
    after them stands for the section that follows, so blank lines before it
    are kept as the file has them.
    """
    document = "nodes:\n" + "".join(lines[start:end]) + ("_next: 0\n" if following else "")
    data: dict[str, Any] = {"nodes": nodes}
    if following:
        data["_next"] = 0
    try:
        updated = _update_yaml(document, data).splitlines(True)
    except RoundTripError:
        return None
    if not updated or updated[0] != "nodes:\n":
        return None
    if following:
        if updated[-1] != "_next: 0\n":
            return None
        updated.pop()
    return updated[1:]


# -- applying a difference to the original text --------------------------------------------
def apply_difference(original: str, before: str, after: str) -> str:
    """``original`` with the line changes that turn ``before`` into ``after``.

    ``before`` is a normalised writing of ``original`` (the same data, maybe
    spaced differently); lines of ``original`` that the change does not touch
    are kept byte for byte, even where ``before`` wrote them differently.
    """
    if before == after:
        return original
    if original == before:
        return after
    old, new, mine = before.splitlines(True), after.splitlines(True), original.splitlines(True)
    replaced: dict[int, list[str]] = {}
    inserted: dict[int, list[str]] = {}
    edits = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in edits:
        if tag == "insert":
            inserted.setdefault(i1, []).extend(new[j1:j2])
        elif tag in ("replace", "delete"):
            for i in range(i1, i2):
                replaced[i] = []
            replaced[i1] = new[j1:j2]
    out: list[str] = []
    emitted: set[int] = set()

    def insertions(at: int) -> None:
        if at not in emitted:
            emitted.add(at)
            out.extend(inserted.get(at, []))

    alignment = difflib.SequenceMatcher(None, old, mine, autojunk=False).get_opcodes()
    for tag, a1, a2, b1, b2 in alignment:
        insertions(a1)
        touched = any(i in replaced for i in range(a1, a2)) or any(
            i in inserted for i in range(a1 + 1, a2)
        )
        if not touched:
            out.extend(mine[b1:b2])
            continue
        for offset, i in enumerate(range(a1, a2)):
            if offset:
                insertions(i)
            if i in replaced:
                out.extend(replaced[i])
            elif tag == "equal":
                out.append(mine[b1 + offset])
            else:
                out.append(old[i])
    insertions(len(old))
    return "".join(out)


# -- JSON ------------------------------------------------------------------------------------
def _json_indent(text: str) -> int | str | None:
    """The file's indent: a number of spaces, a tab, or None for JSON on one line."""
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and len(stripped) < len(line):
            whitespace = line[: len(line) - len(stripped)]
            return whitespace if "\t" in whitespace else len(whitespace)
    return None


def _update_json(text: str, data: Mapping[str, Any]) -> str:
    try:
        current = json.loads(text)
    except ValueError as exc:
        raise RoundTripError(f"the file is not JSON: {exc}") from None
    indent = _json_indent(text)
    ascii_only = bool(re.search(r"\\u[0-9a-fA-F]{4}", text))
    end = "\n" if text.endswith("\n") else ""

    def write(value: Any) -> str:
        return json.dumps(value, indent=indent, ensure_ascii=ascii_only) + end

    wanted = dict(data)
    if (
        isinstance(current, dict)
        and isinstance(current.get("links"), list)
        and isinstance(wanted.get("links"), list)
    ):
        # a link keeps its spelling ("a.done -> b") while it stays the same link
        spelled = {_link_key(item): item for item in current["links"]}
        wanted["links"] = [spelled.get(_link_key(item), item) for item in wanted["links"]]
    return apply_difference(text, write(current), write(wanted))


# -- YAML ------------------------------------------------------------------------------------
def _make_yaml(text: str) -> YAML:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    mapping, offset = _guess_indent(text)
    yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    return yaml


_KEY_LINE = re.compile(r"^( *)[^\s#-][^#]*:\s*(#.*)?$")


def _guess_indent(text: str) -> tuple[int, int]:
    """The file's mapping indent and list dash offset (2 and 2 when it has no example)."""
    mapping: int | None = None
    offset: int | None = None
    lines = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    for above, line in zip(lines, lines[1:], strict=False):
        match = _KEY_LINE.match(above)
        if match is None:
            continue
        parent = len(match.group(1))
        column = len(line) - len(line.lstrip(" "))
        if column < parent or (column == parent and not line.lstrip().startswith("- ")):
            continue
        if line.lstrip().startswith("- "):
            offset = column - parent if offset is None else offset
        elif mapping is None:
            mapping = column - parent
        if mapping is not None and offset is not None:
            break
    return mapping or 2, 2 if offset is None else offset


def _dump(yaml: YAML, tree: Any) -> str:
    stream = io.StringIO()
    yaml.dump(tree, stream)
    return stream.getvalue()


def _update_yaml(text: str, data: Mapping[str, Any]) -> str:
    from ruamel.yaml.error import YAMLError

    yaml = _make_yaml(text)
    try:
        tree = yaml.load(text)
        trimmed = _cut_deleted(text, tree, data)
        if trimmed != text:
            text, tree = trimmed, yaml.load(trimmed)
        before = _dump(yaml, tree)
        spacing = _node_spacing(text, tree)
        old_nodes = tree.get("nodes")
        wanted = data.get("nodes")
        added = [
            key
            for key in (wanted if isinstance(wanted, Mapping) else {})
            if not isinstance(old_nodes, Mapping) or key not in old_nodes
        ]
        _Merger(tree).merge(tree, data, ())
        after = _dump(yaml, tree)
        if added and spacing is not None:
            after = _space_new_nodes(after, yaml.load(after), added, *spacing)
    except YAMLError as exc:
        raise RoundTripError(f"the file cannot be edited in place: {exc}") from None
    return apply_difference(text, before, after)


def _node_spacing(text: str, tree: Any) -> tuple[bool, bool] | None:
    """(a blank line separates nodes, a blank line ends the nodes), or None for flow style."""
    from ruamel.yaml.comments import CommentedMap

    nodes = tree.get("nodes") if isinstance(tree, CommentedMap) else None
    if not isinstance(nodes, CommentedMap) or nodes.fa.flow_style() or not nodes:
        return None
    lines = text.splitlines(True)
    starts = [_own_start(lines, nodes.lc.key(key)[0]) for key in list(nodes)[1:]]
    spaced = any(start > 0 and not lines[start - 1].strip() for start in starts)
    end = _section_end(lines, tree)
    return spaced, 0 < end < len(lines) and not lines[end - 1].strip()


def _section_end(lines: Sequence[str], tree: Any) -> int:
    """The line where what follows ``nodes:`` begins (with its own comments), or the end."""
    keys = list(tree)
    following = keys[keys.index("nodes") + 1 :]
    return _own_start(lines, tree.lc.key(following[0])[0]) if following else len(lines)


def _space_new_nodes(text: str, tree: Any, added: list[str], spaced: bool, gap: bool) -> str:
    """Blank lines around new nodes where the file puts them around its own nodes."""
    lines = text.splitlines(True)
    nodes = tree["nodes"]
    keys = list(nodes)
    blank_before: set[int] = set()
    dropped: set[int] = set()
    for key in added:
        index = keys.index(key)
        start = _own_start(lines, nodes.lc.key(key)[0])
        last = index == len(keys) - 1
        if index > 0:
            after_blank = not lines[start - 1].strip()
            if spaced and not after_blank:
                blank_before.add(start)
            elif not spaced and after_blank and last and gap:
                dropped.add(start - 1)  # that blank line ends the section: it moves below
        end = _section_end(lines, tree)
        if last and gap and end < len(lines) and lines[end - 1].strip():
            blank_before.add(end)
    out: list[str] = []
    for number, line in enumerate(lines):
        if number in blank_before:
            out.append("\n")
        if number not in dropped:
            out.append(line)
    return "".join(out)


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _own_start(lines: Sequence[str], line: int) -> int:
    """The first of the comment lines directly above ``line`` (``line`` when none)."""
    while line > 0 and _is_comment(lines[line - 1]):
        line -= 1
    return line


def _cut_deleted(text: str, tree: Any, data: Mapping[str, Any]) -> str:
    """``text`` without the lines of deleted nodes and link items, with their own comments."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if not isinstance(tree, CommentedMap):
        raise RoundTripError("the file is not a mapping")
    lines = text.splitlines(True)
    cuts: list[tuple[int, int]] = []
    top_keys = list(tree)
    nodes, wanted_nodes = tree.get("nodes"), data.get("nodes")
    if isinstance(nodes, CommentedMap) and not nodes.fa.flow_style():
        keep = wanted_nodes if isinstance(wanted_nodes, Mapping) else {}
        keys = list(nodes)
        for index, key in enumerate(keys):
            if key in keep:
                continue
            start = _own_start(lines, nodes.lc.key(key)[0])
            if index + 1 < len(keys):
                end = _own_start(lines, nodes.lc.key(keys[index + 1])[0])
            else:
                following = top_keys[top_keys.index("nodes") + 1 :]
                end = _own_start(lines, tree.lc.key(following[0])[0]) if following else len(lines)
            blanks = 0
            while end - blanks > start and not lines[end - blanks - 1].strip():
                blanks += 1
            if blanks and start > 0 and lines[start - 1].strip():
                end -= blanks  # the blank lines also separate what comes before from what follows
            cuts.append((start, end))
    links = tree.get("links")
    if isinstance(links, CommentedSeq) and not links.fa.flow_style():
        old_keys = [_link_key(item) for item in links]
        new_keys = [_link_key(item) for item in (data.get("links") or [])]
        matcher = difflib.SequenceMatcher(None, old_keys, new_keys, autojunk=False)
        kept = {i for a, _b, size in matcher.get_matching_blocks() for i in range(a, a + size)}
        for index, item in enumerate(links):
            if index in kept or not isinstance(item, str) or "\n" in item:
                continue
            line = links.lc.item(index)[0]
            cuts.append((_own_start(lines, line), line + 1))
    if not cuts:
        return text
    gone = {line for start, end in cuts for line in range(start, end)}
    return "".join(line for number, line in enumerate(lines) if number not in gone)


def _link_key(item: Any) -> str:
    """A link's identity: ``a.done -> b`` and ``a -> b`` are the same link."""
    try:
        return str(Link.model_validate(str(item)))
    except ValidationError:
        return f"\0{item}"


def _value_key(item: Any) -> str:
    return json.dumps(_plain(item), sort_keys=True, default=str)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


class _Merger:
    """Merges plain data into a round-trip tree, changing only what differs."""

    def __init__(self, root: Any) -> None:
        self.root = root

    def merge(self, old: Any, new: Any, path: Path_) -> Any:
        """The value to hold at ``path``: ``old`` itself (edited in place) when it can be."""
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        if _same(old, new):
            return old
        if _anchored(old):  # shared by aliases: editing it in place would edit them too
            return self.fresh(new, old)
        if isinstance(old, CommentedMap) and isinstance(new, Mapping):
            self._merge_map(old, new, path)
            return old
        if isinstance(old, CommentedSeq) and isinstance(new, list):
            self._merge_list(old, new, path)
            return old
        return self.fresh(new, old)

    def _merge_map(self, old: Any, new: Mapping[str, Any], path: Path_) -> None:
        for key in [key for key in old if key not in new]:
            del old[key]
        previous: int = -1
        for key, value in new.items():
            if key in old:
                merged = self.merge(old[key], value, path + (key,))
                if merged is not old[key]:
                    old[key] = merged
                previous = list(old).index(key)
            else:
                previous += 1
                old.insert(previous, key, self.fresh(value, self.like(old, path, key)))

    def _merge_list(self, old: Any, new: list[Any], path: Path_) -> None:
        identity = _link_key if path == ("links",) else _value_key
        old_keys = [identity(item) for item in old]
        new_keys = [identity(item) for item in new]
        opcodes = difflib.SequenceMatcher(None, old_keys, new_keys, autojunk=False).get_opcodes()
        for tag, i1, i2, j1, j2 in reversed(opcodes):
            if tag == "equal":
                continue
            if tag == "replace" and i2 - i1 == j2 - j1:
                for offset in range(i2 - i1):
                    merged = self.merge(old[i1 + offset], new[j1 + offset], path + (i1 + offset,))
                    if merged is not old[i1 + offset]:
                        old[i1 + offset] = merged
                continue
            like = old[i1] if i1 < len(old) else (old[-1] if len(old) else None)
            for index in reversed(range(i1, i2)):
                del old[index]
            for offset, value in enumerate(new[j1:j2]):
                old.insert(i1 + offset, self.fresh(value, like))

    def like(self, container: Any, path: Path_, key: Any) -> Any:
        """A value to copy the style of for a new ``key``: a sibling's, or the same key's in
        another node."""
        from ruamel.yaml.comments import CommentedMap

        if path == ("nodes",):  # the nearest node above: its style is the local one
            return next(reversed(list(container.values())), None)
        if len(path) == 2 and path[0] == "nodes":
            nodes = self.root.get("nodes") if isinstance(self.root, CommentedMap) else None
            if isinstance(nodes, CommentedMap):
                for node in reversed(list(nodes.values())):
                    if isinstance(node, CommentedMap) and key in node and node is not container:
                        return node[key]
        return None

    def fresh(self, value: Any, like: Any) -> Any:
        """``value`` as round-trip objects, in the style of ``like`` where there is one."""
        from ruamel.yaml.comments import CommentedMap, CommentedSeq
        from ruamel.yaml.scalarstring import (
            DoubleQuotedScalarString,
            LiteralScalarString,
            SingleQuotedScalarString,
        )

        if isinstance(value, Mapping):
            mapping = CommentedMap()
            for key, item in value.items():
                inner = like.get(key) if isinstance(like, CommentedMap) else None
                mapping[key] = self.fresh(item, inner)
            flow = (
                like.fa.flow_style()
                if isinstance(like, CommentedMap) and like.fa.flow_style() is not None
                else _short(list(value.values()), [*value.keys(), *value.values()])
            )
            mapping.fa.set_flow_style() if flow else mapping.fa.set_block_style()
            return mapping
        if isinstance(value, list | tuple):
            first = like[0] if isinstance(like, CommentedSeq) and len(like) else None
            sequence = CommentedSeq(self.fresh(item, first) for item in value)
            flow = (
                like.fa.flow_style()
                if isinstance(like, CommentedSeq) and like.fa.flow_style() is not None
                else _short(list(value), list(value))
            )
            sequence.fa.set_flow_style() if flow else sequence.fa.set_block_style()
            return sequence
        if isinstance(value, str):
            if "\n" in value and not value.endswith((" ", "\t")):
                return LiteralScalarString(value)
            if isinstance(like, DoubleQuotedScalarString | SingleQuotedScalarString):
                return type(like)(value)
            if "{{" in value or "{%" in value:
                return DoubleQuotedScalarString(value)
            return value
        return value


def _short(values: list[Any], words: list[Any]) -> bool:
    """Short lists and maps of plain values read best on one line, as people write them."""
    flat = all(isinstance(v, _SCALARS) and not (isinstance(v, str) and "\n" in v) for v in values)
    return not values or (flat and sum(len(str(w)) + 2 for w in words) <= _FLOW_LIMIT)


def _same(old: Any, new: Any) -> bool:
    """Equal data, booleans kept apart from numbers (``true`` is not ``1``)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return list(old) == list(new) and all(_same(old[k], new[k]) for k in old)
    if isinstance(old, list) and isinstance(new, list | tuple):
        return len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new, strict=True))
    if isinstance(old, bool) != isinstance(new, bool):
        return False
    if isinstance(old, str) != isinstance(new, str):
        return False
    return bool(old == new)


def _anchored(value: Any) -> bool:
    anchor = getattr(value, "anchor", None)
    return getattr(anchor, "value", None) is not None
