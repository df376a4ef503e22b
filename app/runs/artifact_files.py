"""A run's artifacts (screenshots, evidence) read through the supervisor's API.

The window never opens an artifact by its path: the run may have run on
another machine, whose files this desktop cannot see.  The history keeps a
copy of each artifact's bytes, and any supervisor's API serves it
(``GET /runs/{id}/artifacts/{artifact_id}``), so this cache asks the API, in
the background, and says when an artifact arrived.

An artifact seen in a live event carries no id yet (the history assigns it
when the event is written), so the run's artifact list is read until the
artifact appears in it, a few times, a little apart.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage

from app.runs.records import Artifact
from app.supervisor_link import SupervisorLink, run_job
from automation.errors import DeskpilotError
from supervisor.api.models import RunDetail

log = logging.getLogger(__name__)

#: Reads of the run's artifact list while a live artifact has no id yet, and their spacing.
ID_TRIES = 10
ID_RETRY_MS = 400
#: Text evidence longer than this is cut in the window (the API serves it whole).
MAX_TEXT_CHARS = 200_000


class ArtifactFiles(QObject):
    """Artifact bytes from the API, cached by (run id, artifact id)."""

    #: an artifact's bytes (or the reason they are not available) arrived
    arrived = Signal()

    def __init__(self, link: SupervisorLink | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.link = link
        self._data: dict[tuple[str, int], bytes] = {}
        self._images: dict[tuple[str, int], QImage] = {}
        self._errors: dict[tuple[str, int], str] = {}
        self._loading: set[tuple[str, int]] = set()
        #: runs whose artifact list is being read (or will be again shortly)
        self._resolving: set[str] = set()
        self._tries: dict[str, int] = {}
        if link is not None:
            link.signals.connected_changed.connect(self._connected_changed)

    # -- what is known now -------------------------------------------------------------------
    def image(self, run_id: str, artifact: Artifact) -> QImage | None:
        if artifact.id is None:
            return None
        return self._images.get((run_id, artifact.id))

    def data(self, run_id: str, artifact: Artifact) -> bytes | None:
        if artifact.id is None:
            return None
        return self._data.get((run_id, artifact.id))

    def error(self, run_id: str, artifact: Artifact) -> str | None:
        if self.link is None:
            return "not connected to a supervisor"
        if artifact.id is None:
            if self._tries.get(run_id, ID_TRIES) <= 0 and run_id not in self._resolving:
                return "the history has no record of this file"
            return None
        return self._errors.get((run_id, artifact.id))

    def keep_only(self, run_id: str | None) -> None:
        """Drop what other runs' artifacts hold (screenshots are large)."""
        for cache in (self._data, self._images, self._errors):
            for key in [k for k in cache if k[0] != run_id]:
                del cache[key]

    def _connected_changed(self, connected: bool) -> None:
        """Back in touch: what failed while the supervisor was away is asked for again."""
        if connected and (self._errors or self._tries):
            self._errors.clear()
            self._tries.clear()
            self.arrived.emit()

    # -- asking the API -----------------------------------------------------------------------
    def want(self, run_id: str, artifacts: list[Artifact]) -> None:
        """Fetch what is not here yet; ``arrived`` is emitted as each answer comes."""
        if self.link is None:
            return
        if any(a.id is None for a in artifacts):
            self._resolve(run_id, artifacts)
        for artifact in artifacts:
            if artifact.id is None:
                continue
            key = (run_id, artifact.id)
            if any(key in known for known in (self._data, self._images, self._errors)):
                continue
            if key in self._loading:
                continue
            self._fetch(key, artifact.is_image)

    def _fetch(self, key: tuple[str, int], is_image: bool) -> None:
        assert self.link is not None
        client = self.link.client
        self._loading.add(key)

        def work() -> bytes:
            return client.artifact(*key)

        def done(data: bytes) -> None:
            self._loading.discard(key)
            if is_image:  # kept decoded only: a screenshot's bytes are not needed twice
                image = QImage()
                if image.loadFromData(data):
                    self._images[key] = image
                else:
                    self._errors[key] = "the file is not an image this window can show"
            else:
                self._data[key] = data
            self.arrived.emit()

        def failed(error: Exception) -> None:
            self._loading.discard(key)
            self._errors[key] = str(error)
            if not isinstance(error, DeskpilotError):
                log.error("reading artifact %s of run %s failed", key[1], key[0], exc_info=error)
            self.arrived.emit()

        run_job(work, done, failed, owner=self)

    def _resolve(self, run_id: str, artifacts: list[Artifact]) -> None:
        """Give live artifacts the ids the history gave their rows (a few reads, apart)."""
        left = self._tries.get(run_id, ID_TRIES)
        if run_id in self._resolving or self.link is None or left <= 0:
            return
        self._resolving.add(run_id)
        self._tries[run_id] = left - 1
        client = self.link.client

        def work() -> RunDetail:
            return client.get_run(run_id)

        def again() -> None:
            self._resolving.discard(run_id)
            self._resolve(run_id, artifacts)

        def done(detail: RunDetail) -> None:
            found = _match_ids(artifacts, detail)
            if any(a.id is None for a in artifacts) and left > 1:
                QTimer.singleShot(ID_RETRY_MS, self, again)
            else:
                self._resolving.discard(run_id)
            if found:
                self.want(run_id, [a for a in artifacts if a.id is not None])
                self.arrived.emit()

        def failed(error: Exception) -> None:
            self._resolving.discard(run_id)
            log.info("could not list the artifacts of run %s: %s", run_id, error)

        run_job(work, done, failed, owner=self)


def _match_ids(artifacts: list[Artifact], detail: RunDetail) -> bool:
    """Copy the history's ids onto artifacts known by path, node and step; True if any."""
    taken = {a.id for a in artifacts if a.id is not None}
    found = False
    for artifact in artifacts:
        if artifact.id is not None:
            continue
        for info in detail.artifacts:
            where = (info.path, info.node_id, info.step)
            if where == (artifact.path, artifact.node_id, artifact.step) and info.id not in taken:
                artifact.id = info.id
                taken.add(info.id)
                found = True
                break
    return found


def as_text(data: bytes) -> str:
    """Evidence (JSON, logs) as text for the window, cut when very long."""
    text = data.decode("utf-8", errors="replace")
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS] + "\n… (cut)"
    return text
