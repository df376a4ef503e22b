"""The last mask before an answer leaves the API: JSON bodies and event-stream frames.

What the API sends was masked where it was made (workers mask their events
and messages before they send them).  This pass masks it again with the
supervisor's own redactor, which knows the secrets the supervisor read
itself (``supervisor.masking``), so nothing the supervisor learned can leave
through an answer either.  It costs nothing while that redactor is empty.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from automation.redaction import process_redactor


def masked(content: Any) -> Any:
    """JSON-like ``content`` with every known secret masked."""
    return process_redactor().value(content)


class MaskedJSONResponse(JSONResponse):
    """A JSON answer, masked before it is encoded (encoded, a secret's form changes)."""

    def render(self, content: Any) -> bytes:
        return super().render(masked(content))
