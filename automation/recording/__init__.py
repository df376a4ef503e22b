"""Recording: real input from the X server turned into workflow nodes that replay.

The parts, each a noun of its own:

* ``events``: what was captured (keys, buttons, window snapshots), frozen;
* ``xcapture``: XRecord on its own X connection, in a thread: every key and
  button event of every client, with the window it went to;
* ``frames``: screenshots kept just before each click, for the anchors;
* ``anchors``: a target for a click: the accessibility path where there is
  one, an image crop grown until it is unique on screen, the OCR text under
  the pointer when it is unique too;
* ``compose``: a pure function from events to steps: clicks, drags and
  scrolls, typing runs merged into one ``keyboard.type``, chords as
  ``keyboard.hotkey``, waits inferred from window changes;
* ``workflow``: steps to a workflow file and its template images;
* ``recorder``: ``Recorder``, which starts and stops all of the above.

Nothing here imports Qt; the editor's Record button and ``deskpilot record``
both drive ``Recorder``.
"""

from automation.recording.recorder import Recorder, RecorderError, Recording

__all__ = ["Recorder", "RecorderError", "Recording"]
