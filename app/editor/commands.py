"""Every edit as a ``QUndoCommand`` over the document.

Commands only call ``WorkflowDocument`` methods; the canvas and the forms
follow the document's change events.  A command's first ``redo()`` is the
edit itself, so views never apply an edit and then record it separately (the
one exception is a mouse drag, where the items already stand where the
command puts them, which makes its first ``redo()`` a no-op).

Consecutive edits of one field (typing in a spin box, nudging with the arrow
keys) merge into one undo step through ``id()``/``mergeWith()``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from PySide6.QtGui import QUndoCommand

from app.editor.document import UNSET, WorkflowDocument
from automation.model import Link

Position = tuple[float, float]

_MERGE_NODE_KEY = 1001
_MERGE_INPUT = 1002
_MERGE_MOVE = 1003


class AddNodeCommand(QUndoCommand):
    def __init__(
        self,
        document: WorkflowDocument,
        node_id: str,
        node: Mapping[str, Any],
    ) -> None:
        super().__init__(f"Add node '{node_id}'")
        self.document = document
        self.node_id = node_id
        self.node = dict(node)

    def redo(self) -> None:
        self.document.add_node(self.node_id, self.node)

    def undo(self) -> None:
        self.document.remove_node(self.node_id)


class AddLinkCommand(QUndoCommand):
    def __init__(self, document: WorkflowDocument, link: Link) -> None:
        super().__init__(f"Connect {link}")
        self.document = document
        self.link = link

    def redo(self) -> None:
        self.document.add_link(self.link)

    def undo(self) -> None:
        self.document.remove_link(self.link)


class RemoveItemsCommand(QUndoCommand):
    """Delete nodes and links; the links of deleted nodes go with them.

    Undo puts everything back at its old index, so that deleting and undoing
    leaves the document (and the saved file) exactly as it was.
    """

    def __init__(
        self,
        document: WorkflowDocument,
        node_ids: Iterable[str] = (),
        links: Iterable[Link] = (),
    ) -> None:
        self.document = document
        self.node_ids = list(dict.fromkeys(node_ids))
        doomed = set(links)
        for node_id in self.node_ids:
            doomed.update(document.links_of(node_id))
        self.links = [link for link in document.links if link in doomed]
        what = (
            f"{len(self.node_ids)} node{'s' if len(self.node_ids) != 1 else ''}"
            if self.node_ids
            else f"{len(self.links)} link{'s' if len(self.links) != 1 else ''}"
        )
        super().__init__(f"Delete {what}")
        self._removed_links: list[tuple[int, Link]] = []
        self._removed_nodes: list[tuple[int, str, dict[str, Any]]] = []

    def redo(self) -> None:
        self._removed_links = []
        for link in self.links:
            self._removed_links.append((self.document.remove_link(link), link))
        self._removed_nodes = []
        for node_id in self.node_ids:
            index, node = self.document.remove_node(node_id)
            self._removed_nodes.append((index, node_id, node))

    def undo(self) -> None:
        for index, node_id, node in reversed(self._removed_nodes):
            self.document.add_node(node_id, node, index)
        for index, link in reversed(self._removed_links):
            self.document.add_link(link, index)


class MoveNodesCommand(QUndoCommand):
    """Nodes moved to new positions; ``old`` may be None for a node the file had not placed."""

    def __init__(
        self,
        document: WorkflowDocument,
        moves: Mapping[str, tuple[Position | None, Position]],
        *,
        mergeable: bool = False,
    ) -> None:
        count = len(moves)
        super().__init__(f"Move {count} node{'s' if count != 1 else ''}")
        self.document = document
        self.moves = dict(moves)
        self.mergeable = mergeable

    def redo(self) -> None:
        for node_id, (_old, new) in self.moves.items():
            self.document.move_node(node_id, new)

    def undo(self) -> None:
        for node_id, (old, _new) in self.moves.items():
            self.document.move_node(node_id, old)

    def id(self) -> int:
        return _MERGE_MOVE if self.mergeable else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 (Qt's name)
        if not isinstance(other, MoveNodesCommand) or not other.mergeable:
            return False
        if set(other.moves) != set(self.moves):
            return False
        self.moves = {nid: (self.moves[nid][0], other.moves[nid][1]) for nid in self.moves}
        return True


class SetNodeKeyCommand(QUndoCommand):
    """Set one key of a node (``title``, ``retry``, ``timeout``, ``disabled``...); UNSET removes it."""

    def __init__(
        self,
        document: WorkflowDocument,
        node_id: str,
        key: str,
        value: Any,
        *,
        mergeable: bool = False,
    ) -> None:
        super().__init__(f"Change {key} of '{node_id}'")
        self.document = document
        self.node_id = node_id
        self.key = key
        self.value = value
        self.old: Any = document.node(node_id).get(key, UNSET)
        self.mergeable = mergeable

    def redo(self) -> None:
        self.document.set_node_key(self.node_id, self.key, self.value)

    def undo(self) -> None:
        self.document.set_node_key(self.node_id, self.key, self.old)

    def id(self) -> int:
        return _MERGE_NODE_KEY if self.mergeable else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802
        if not (isinstance(other, SetNodeKeyCommand) and other.mergeable):
            return False
        if (other.node_id, other.key) != (self.node_id, self.key):
            return False
        self.value = other.value
        return True


class SetInputCommand(QUndoCommand):
    """Set one input value under ``with``; UNSET removes it (the block default applies)."""

    def __init__(
        self,
        document: WorkflowDocument,
        node_id: str,
        name: str,
        value: Any,
        *,
        mergeable: bool = False,
    ) -> None:
        verb = "Clear" if value is UNSET else "Set"
        super().__init__(f"{verb} {node_id}.{name}")
        self.document = document
        self.node_id = node_id
        self.name = name
        self.value = value
        # the whole 'with' comes back on undo, so that even 'with: {}' is restored exactly
        self.old_inputs: Any = document.node(node_id).get("with", UNSET)
        self.mergeable = mergeable

    def redo(self) -> None:
        self.document.set_input(self.node_id, self.name, self.value)

    def undo(self) -> None:
        self.document.set_node_key(self.node_id, "with", self.old_inputs)

    def id(self) -> int:
        return _MERGE_INPUT if self.mergeable else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802
        if not (isinstance(other, SetInputCommand) and other.mergeable):
            return False
        if (other.node_id, other.name) != (self.node_id, self.name):
            return False
        self.value = other.value
        return True


class RenameNodeCommand(QUndoCommand):
    def __init__(self, document: WorkflowDocument, old: str, new: str) -> None:
        super().__init__(f"Rename '{old}' to '{new}'")
        self.document = document
        self.old_id = old
        self.new_id = new
        self.before = document.snapshot()

    def redo(self) -> None:
        self.document.rename_node(self.old_id, self.new_id)

    def undo(self) -> None:
        self.document.restore(self.before)


class MacroCommand(QUndoCommand):
    """Several commands as one undo step.

    Qt's own parent/child commands are not used: a child created from Python
    and referenced only by its C++ parent may have its Python wrapper (and
    with it the ``redo`` override) collected.  Here the steps are plain
    Python references, kept alive by the macro.
    """

    def __init__(self, text: str, steps: Iterable[QUndoCommand]) -> None:
        super().__init__(text)
        self.steps = list(steps)

    def redo(self) -> None:
        for step in self.steps:
            step.redo()

    def undo(self) -> None:
        for step in reversed(self.steps):
            step.undo()


def connect_command(document: WorkflowDocument, link: Link) -> QUndoCommand:
    """Link two pins; a literal value the target input had under ``with`` is cleared.

    Validation rejects an input that is both linked and set, so connecting
    replaces the value (undo brings it back) rather than leaving an error.
    """
    steps: list[QUndoCommand] = []
    if link.target_pin in document.node_inputs(link.target):
        steps.append(SetInputCommand(document, link.target, link.target_pin, UNSET))
    steps.append(AddLinkCommand(document, link))
    return MacroCommand(f"Connect {link}", steps)


def paste_command(
    document: WorkflowDocument,
    nodes: Mapping[str, Mapping[str, Any]],
    links: Iterable[Link],
) -> QUndoCommand:
    steps: list[QUndoCommand] = [
        AddNodeCommand(document, node_id, node) for node_id, node in nodes.items()
    ]
    steps += [AddLinkCommand(document, link) for link in links]
    return MacroCommand(f"Paste {len(nodes)} node{'s' if len(nodes) != 1 else ''}", steps)
