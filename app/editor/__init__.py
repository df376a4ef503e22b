"""The workflow editor: a node-graph canvas over one ``WorkflowDocument``.

The document (``document.py``) is plain Python and is the only thing edits
change; every edit is a ``QUndoCommand`` (``commands.py``) that calls the
document, and the scene redraws itself from the document's change events.
Nothing in the scene writes to the document directly, so undo/redo and what
is saved can never disagree with what is shown.
"""
