"""Triggers as the workflow file writes them: parsing, next fire times, editing, the form.

The next five fire times of a schedule are worked out with APScheduler's own
triggers (the ones the supervisor uses), so the preview in the form and the
list agree with what will happen.

Edits change the workflow FILE (its ``triggers:`` list): the file is the
source of truth and the supervisor picks the change up from the workflows
folder.  When the workflow is open in an editor the change goes through
that editor's document and undo stack (and is saved at once if the editor
had no other unsaved changes), so the two never disagree.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError
from PySide6.QtCore import QDateTime, Qt
from PySide6.QtGui import QUndoCommand
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.editor.document import UNSET, WorkflowDocument
from app.editor.widget import EditorWidget, write_atomically
from app.runs.records import local_time
from app.theme import Theme
from automation.messages import describe
from automation.model import ScheduleTrigger, Trigger
from automation.timezones import LOCAL, local_zone
from automation.timezones import resolve as resolve_timezone

log = logging.getLogger(__name__)

FIRE_TIMES = 5
TRIGGER_TYPES = (
    ("schedule", "Schedule (cron, interval or a date)"),
    ("file", "Files change in a folder"),
    ("webhook", "A webhook is called"),
    ("after", "Another workflow finishes"),
    ("hotkey", "A key chord is pressed (X11)"),
)
_TRIGGER = TypeAdapter(Trigger)


# -- pure helpers ---------------------------------------------------------------------------


def parse_trigger(data: dict[str, Any]) -> Trigger:
    """The trigger a ``triggers:`` entry describes; ValueError says what is wrong."""
    try:
        return _TRIGGER.validate_python(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"][1:]) or "trigger"
            message, _hint = describe(error)
            problems.append(f"{where}: {message}")
        raise ValueError("; ".join(problems)) from None


def next_fire_times(
    trigger: Trigger,
    *,
    count: int = FIRE_TIMES,
    now: datetime | None = None,
    first: datetime | None = None,
) -> list[datetime]:
    """When a schedule fires next (at most ``count`` times); empty for other triggers.

    ``first`` is the supervisor's own next fire time: interval schedules
    count from when they were armed, which only the supervisor knows.
    """
    if not isinstance(trigger, ScheduleTrigger) or not trigger.enabled:
        return []
    from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
    from apscheduler.triggers.date import DateTrigger  # type: ignore[import-untyped]
    from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

    now = now or datetime.now(UTC)
    zone = resolve_timezone(trigger.timezone)
    if trigger.cron is not None:
        made: Any = CronTrigger.from_crontab(trigger.cron, timezone=zone)
    elif trigger.interval is not None:
        start = first or now + timedelta(seconds=trigger.interval)
        made = IntervalTrigger(seconds=trigger.interval, start_date=start, timezone=zone)
    else:
        assert trigger.at is not None
        at = trigger.at if trigger.at.tzinfo else trigger.at.replace(tzinfo=zone)
        made = DateTrigger(run_date=at, timezone=zone)
    times: list[datetime] = []
    previous: datetime | None = None
    moment = now
    while len(times) < count:
        fire = made.get_next_fire_time(previous, moment)
        if fire is None:
            break
        if fire < now:  # a date trigger answers its date even when it has passed
            break
        times.append(fire)
        previous = fire
        moment = fire + timedelta(microseconds=1)
    return times


def file_form(trigger: Trigger) -> dict[str, Any]:
    """A trigger as it is written in a workflow file: type first, defaults left out."""
    data = trigger.model_dump(mode="json", exclude_defaults=True)
    data.pop("type", None)
    return {"type": trigger.type, **data}


@cache
def timezones() -> list[str]:
    """'local' first (the default: this computer's zone), then every IANA name."""
    return [LOCAL, *sorted(zoneinfo.available_timezones())]


# -- editing the file -----------------------------------------------------------------------


class SetTriggersCommand(QUndoCommand):
    """Replace the workflow's ``triggers:`` list (an undoable edit in an open editor)."""

    def __init__(self, document: WorkflowDocument, triggers: list[dict[str, Any]] | None) -> None:
        super().__init__("Change triggers")
        self.document = document
        self.new: Any = triggers if triggers else UNSET
        self.old: Any = UNSET

    def redo(self) -> None:
        self.old = self.document.set_value("triggers", self.new)

    def undo(self) -> None:
        self.document.set_value("triggers", self.old)


def change_triggers(
    path: Path,
    change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    editor: EditorWidget | None = None,
) -> str:
    """Apply ``change`` to the ``triggers:`` list of the workflow at ``path``; say what happened.

    Raises ``DeskpilotError`` when the file cannot be read or written.
    """
    if editor is not None:
        document = editor.document
        triggers = change(trigger_entries(document))
        was_clean = not editor.is_dirty()
        editor.push(SetTriggersCommand(document, triggers))
        if was_clean:
            editor.save()
            return f"Saved the triggers of {path.name}"
        return f"Changed the triggers in the open editor of {path.name}; save it to apply them"
    document = WorkflowDocument.open(path)
    triggers = change(trigger_entries(document))
    document.set_value("triggers", triggers if triggers else UNSET)
    write_atomically(path, document.to_text())
    return f"Saved the triggers of {path.name}"


def trigger_entries(document: WorkflowDocument) -> list[dict[str, Any]]:
    value = document.value("triggers")
    return [dict(t) for t in value] if isinstance(value, list) else []


# -- the editor dialog ----------------------------------------------------------------------


class TriggerDialog(QDialog):
    """Edit one trigger; schedules show their next five fire times as you type."""

    def __init__(
        self,
        theme: Theme,
        data: dict[str, Any] | None = None,
        *,
        workflows: Sequence[str] = (),
        secrets: Sequence[str] = (),
        default_timezone: str = LOCAL,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.theme = theme
        self.setWindowTitle("Edit trigger" if data else "Add trigger")
        self.result_data: dict[str, Any] | None = None
        # a new schedule gets the zone of the user's preferences (Edit › Preferences…)
        data = dict(
            data or {"type": "schedule", "cron": "0 9 * * mon-fri", "timezone": default_timezone}
        )
        self.type_box = QComboBox()
        self.type_box.setAccessibleName("Trigger type")
        for value, text in TRIGGER_TYPES:
            self.type_box.addItem(text, value)
        self.enabled = QCheckBox("Enabled")
        self.enabled.setChecked(bool(data.get("enabled", True)))
        self.enabled.toggled.connect(lambda _on: self._update_preview())
        self.inputs = QPlainTextEdit()
        self.inputs.setAccessibleName("Inputs given to each run")
        self.inputs.setPlaceholderText("inputs for each run, as YAML: 'name: value' per line")
        self.inputs.setMaximumHeight(70)
        if data.get("inputs"):
            self.inputs.setPlainText(yaml.safe_dump(data["inputs"], sort_keys=False).strip())
        self.preview = QLabel()
        self.preview.setObjectName("fire_preview")
        self.preview.setWordWrap(True)
        self.preview.setTextFormat(Qt.TextFormat.RichText)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        self.pages = QStackedWidget()  # after the preview: building a page updates it
        self._schedule_page(data)
        self._file_page(data)
        self._webhook_page(data, secrets)
        self._after_page(data, workflows)
        self._hotkey_page(data)
        form = QFormLayout()
        form.addRow("Runs when:", self.type_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.pages)
        common = QFormLayout()
        common.addRow("", self.enabled)
        common.addRow("Inputs:", self.inputs)
        layout.addLayout(common)
        layout.addWidget(self.preview)
        layout.addWidget(self.buttons)
        self.type_box.currentIndexChanged.connect(self._type_changed)
        self.type_box.setCurrentIndex(max(0, self.type_box.findData(data.get("type", "schedule"))))
        self._type_changed()
        self.resize(520, 460)

    # pages ---------------------------------------------------------------------------------
    def _page(self) -> tuple[QWidget, QFormLayout]:
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        self.pages.addWidget(page)
        return page, form

    def _schedule_page(self, data: dict[str, Any]) -> None:
        _page, form = self._page()
        self.schedule_kind = QComboBox()
        self.schedule_kind.setAccessibleName("Schedule kind")
        for value, text in (("cron", "On a cron schedule"), ("interval", "Every…"),
                            ("at", "Once, at…")):  # fmt: skip
            self.schedule_kind.addItem(text, value)
        kind = "interval" if data.get("interval") else "at" if data.get("at") else "cron"
        self.schedule_kind.setCurrentIndex(self.schedule_kind.findData(kind))
        self.cron = QLineEdit(str(data.get("cron") or "0 9 * * mon-fri"))
        self.cron.setAccessibleName("Cron expression")
        self.cron.setToolTip("minute hour day-of-month month day-of-week, e.g. '*/15 * * * *'")
        self.interval = QLineEdit(str(data.get("interval") or "15m"))
        self.interval.setAccessibleName("Interval")
        self.interval.setToolTip("seconds, or a duration such as '30s', '15m', '1h30m'")
        self.at = QDateTimeEdit(QDateTime.currentDateTime().addDays(1))
        self.at.setAccessibleName("Date and time")
        self.at.setCalendarPopup(True)
        self.at.setDisplayFormat("yyyy-MM-dd HH:mm")
        if data.get("at"):
            when = datetime.fromisoformat(str(data["at"]))
            self.at.setDateTime(QDateTime.fromSecsSinceEpoch(int(when.timestamp())))
        self.timezone = QComboBox()
        self.timezone.setEditable(True)
        self.timezone.setAccessibleName("Time zone")
        self.timezone.addItems(timezones())
        self.timezone.setCurrentText(str(data.get("timezone") or LOCAL))
        self.timezone.setToolTip(f"'local' is this computer's zone: {local_zone().key}")
        self.misfire = QComboBox()
        self.misfire.setAccessibleName("After downtime")
        for value, text in (("run_once", "run once for what was missed"),
                            ("skip", "skip what was missed"),
                            ("catch_up", "run every missed time")):  # fmt: skip
            self.misfire.addItem(text, value)
        self.misfire.setCurrentIndex(max(0, self.misfire.findData(data.get("misfire", "run_once"))))
        self.misfire_grace = QLineEdit(str(data.get("misfire_grace") or "5m"))
        self.misfire_grace.setAccessibleName("Misfire grace")
        form.addRow("Schedule:", self.schedule_kind)
        form.addRow("Cron:", self.cron)
        form.addRow("Every:", self.interval)
        form.addRow("At:", self.at)
        form.addRow(f"Time zone (here: {local_zone().key}):", self.timezone)
        form.addRow("After downtime:", self.misfire)
        form.addRow("Late by at most:", self.misfire_grace)
        self._schedule_form = form
        for widget in (self.cron, self.interval, self.misfire_grace):
            widget.textChanged.connect(lambda _t: self._update_preview())
        self.timezone.currentTextChanged.connect(lambda _t: self._update_preview())
        self.at.dateTimeChanged.connect(lambda _d: self._update_preview())
        self.schedule_kind.currentIndexChanged.connect(lambda _i: self._kind_changed())
        self._kind_changed()

    def _kind_changed(self) -> None:
        kind = self.schedule_kind.currentData()
        for widget, shown in ((self.cron, kind == "cron"), (self.interval, kind == "interval"),
                              (self.at, kind == "at")):  # fmt: skip
            self._schedule_form.setRowVisible(widget, shown)
        self._update_preview()

    def _file_page(self, data: dict[str, Any]) -> None:
        _page, form = self._page()
        self.file_path = QLineEdit(str(data.get("path") or ""))
        self.file_path.setAccessibleName("Folder")
        self.file_path.setPlaceholderText(
            "folder to watch (relative to the workflow file, or absolute)"
        )
        self.file_glob = QLineEdit(str(data.get("glob") or "*"))
        self.file_glob.setAccessibleName("File pattern")
        events = set(data.get("events") or ["created"])
        self.file_events: dict[str, QCheckBox] = {}
        row = QHBoxLayout()
        for name in ("created", "modified", "deleted", "moved"):
            box = QCheckBox(name)
            box.setChecked(name in events)
            self.file_events[name] = box
            row.addWidget(box)
        self.file_recursive = QCheckBox("Include sub-folders")
        self.file_recursive.setChecked(bool(data.get("recursive")))
        self.file_debounce = QLineEdit(str(data.get("debounce") or "1s"))
        self.file_debounce.setAccessibleName("Debounce")
        form.addRow("Folder:", self.file_path)
        form.addRow("Files:", self.file_glob)
        form.addRow("When a file is:", row)
        form.addRow("", self.file_recursive)
        form.addRow("Wait for quiet:", self.file_debounce)

    def _webhook_page(self, data: dict[str, Any], secrets: Sequence[str]) -> None:
        _page, form = self._page()
        self.hook_name = QLineEdit(str(data.get("name") or ""))
        self.hook_name.setAccessibleName("Webhook name")
        self.hook_secret = QComboBox()
        self.hook_secret.setEditable(True)
        self.hook_secret.setAccessibleName("Secret name")
        self.hook_secret.addItems(list(secrets))
        self.hook_secret.setCurrentText(str(data.get("secret") or ""))
        self.hook_secret.setToolTip(
            "the NAME of a keyring secret (see Secrets); callers send its value in "
            "X-Deskpilot-Secret"
        )
        form.addRow("Name:", self.hook_name)
        form.addRow("Secret:", self.hook_secret)

    def _after_page(self, data: dict[str, Any], workflows: Sequence[str]) -> None:
        _page, form = self._page()
        self.after_workflow = QComboBox()
        self.after_workflow.setEditable(True)
        self.after_workflow.setAccessibleName("Workflow")
        self.after_workflow.addItems(list(workflows))
        self.after_workflow.setCurrentText(str(data.get("workflow") or ""))
        wanted = set(data.get("status") or ["succeeded"])
        self.after_status: dict[str, QCheckBox] = {}
        row = QHBoxLayout()
        for name in ("succeeded", "failed", "cancelled"):
            box = QCheckBox(name)
            box.setChecked(name in wanted)
            self.after_status[name] = box
            row.addWidget(box)
        form.addRow("After:", self.after_workflow)
        form.addRow("Ends as:", row)

    def _hotkey_page(self, data: dict[str, Any]) -> None:
        _page, form = self._page()
        self.hotkey_keys = QLineEdit(str(data.get("keys") or "ctrl+alt+r"))
        self.hotkey_keys.setAccessibleName("Keys")
        self.hotkey_keys.setToolTip(
            "modifiers (ctrl, alt, shift, super) and one key, e.g. 'ctrl+alt+r'; the supervisor "
            "grabs it on its X display"
        )
        form.addRow("Keys:", self.hotkey_keys)

    def _type_changed(self, _index: int = 0) -> None:
        self.pages.setCurrentIndex(self.type_box.currentIndex())
        self._update_preview()

    # result --------------------------------------------------------------------------------
    def data(self) -> dict[str, Any]:
        """What the form says, in the file's words (not yet validated)."""
        kind = self.type_box.currentData()
        out: dict[str, Any] = {"type": kind}
        if kind == "schedule":
            which = self.schedule_kind.currentData()
            if which == "cron":
                out["cron"] = self.cron.text().strip()
            elif which == "interval":
                out["interval"] = _number_or_text(self.interval.text())
            else:
                seconds = self.at.dateTime().toSecsSinceEpoch()
                out["at"] = datetime.fromtimestamp(seconds).astimezone().isoformat()
            zone = self.timezone.currentText().strip() or LOCAL
            if zone.lower() != LOCAL:  # the default stays out of the file
                out["timezone"] = zone
            out["misfire"] = self.misfire.currentData()
            out["misfire_grace"] = _number_or_text(self.misfire_grace.text())
        elif kind == "file":
            out["path"] = self.file_path.text().strip()
            out["glob"] = self.file_glob.text().strip() or "*"
            out["events"] = [name for name, box in self.file_events.items() if box.isChecked()]
            out["recursive"] = self.file_recursive.isChecked()
            out["debounce"] = _number_or_text(self.file_debounce.text())
        elif kind == "webhook":
            out["name"] = self.hook_name.text().strip()
            out["secret"] = self.hook_secret.currentText().strip()
        elif kind == "hotkey":
            out["keys"] = self.hotkey_keys.text().strip()
        else:
            out["workflow"] = self.after_workflow.currentText().strip()
            out["status"] = [name for name, box in self.after_status.items() if box.isChecked()]
        out["enabled"] = self.enabled.isChecked()
        text = self.inputs.toPlainText().strip()
        if text:
            out["inputs"] = yaml.safe_load(text)
        return out

    def checked(self) -> Trigger:
        """The form as a valid trigger; ValueError names the field that is wrong."""
        try:
            data = self.data()
        except yaml.YAMLError as exc:
            raise ValueError(f"inputs: not valid YAML ({exc})") from None
        if "inputs" in data and not isinstance(data["inputs"], dict):
            raise ValueError("inputs: write one 'name: value' per line")
        return parse_trigger(data)

    def _update_preview(self) -> None:
        try:
            trigger = self.checked()
        except ValueError as exc:
            self.preview.setText(f"<span style='color:{self.theme.error}'>{escape(exc)}</span>")
            self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(False)
            return
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(True)
        if isinstance(trigger, ScheduleTrigger):
            times = next_fire_times(trigger)
            if times:
                listed = "<br>".join(escape(local_time(t)) for t in times)
                self.preview.setText(f"<b>Next runs</b> (your local time):<br>{listed}")
            else:
                self.preview.setText("This schedule will not fire again.")
        else:
            self.preview.setText("")

    def _accept(self) -> None:
        try:
            self.result_data = file_form(self.checked())
        except ValueError as exc:
            self.preview.setText(f"<span style='color:{self.theme.error}'>{escape(exc)}</span>")
            return
        self.accept()


def _number_or_text(text: str) -> float | str:
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() else value


def escape(value: object) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
