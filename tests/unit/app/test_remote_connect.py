"""The window talks to another machine's supervisor: over TLS, chosen in the Machines panel.

A real supervisor serves HTTPS on 127.0.0.1 with a certificate made here;
the window's link lives in another home with no supervisor of its own, so
whatever it shows came over the remote connection.  The token is kept in a
real (private) keyring, never in the saved connection.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QDialog
from pytestqt.qtbot import QtBot

from app.machines_view import MachinesView
from app.main_window import MainWindow
from app.prompts import Prompts
from app.remote_connect import ConnectDialog
from app.supervisor_link import SupervisorLink, job_pool
from app.theme import LIGHT
from automation.blocks.registry import BlockRegistry
from automation.errors import DeskpilotError
from automation.secrets import SERVICE_ENV
from supervisor.paths import DeskpilotPaths
from supervisor.remote import RemoteApi, connection_path, keyring_token
from tests.helpers.common import eventually
from tests.helpers.keyring_session import RealKeyring
from tests.helpers.tls import TlsDaemon, der_of, tls_daemon

TOKEN = "window-remote-token-0b9e8d7c6a5f4e3d2c1b0a99887766"
NewLink = Callable[..., SupervisorLink]


@pytest.fixture(scope="module")
def served() -> Iterator[TlsDaemon]:
    with tls_daemon(TOKEN) as daemon:
        yield daemon


def pumped(qapp: QApplication, check: object) -> object:
    def once() -> object:
        qapp.processEvents()
        return check() if callable(check) else check

    return eventually(once, timeout=20)


@pytest.fixture
def new_link(tmp_path: Path, qapp: QApplication, qtbot: QtBot) -> Iterator[NewLink]:
    """Make the test's link, in a home with no supervisor of its own; stopped after the test,
    before its widgets (``qtbot``'s) are closed."""
    made: list[SupervisorLink] = []

    def new(remote: RemoteApi | None = None) -> SupervisorLink:
        paths = DeskpilotPaths.under(tmp_path).ensure()
        made.append(SupervisorLink(paths, autostart=False, poll_interval=0.5, remote=remote))
        return made[-1]

    yield new
    for link in made:
        link.stop()
    job_pool().waitForDone(10_000)
    qapp.processEvents()


@pytest.fixture
def token_keyring(real_keyring: RealKeyring, monkeypatch: pytest.MonkeyPatch) -> RealKeyring:
    """The window keeps tokens in the real keyring, under a service no other test uses; no
    token, CA or pin comes from the environment."""
    monkeypatch.setenv(SERVICE_ENV, f"dp-window-{uuid.uuid4().hex[:12]}")
    for name in ("DESKPILOT_API_TOKEN", "DESKPILOT_API_CA", "DESKPILOT_API_PIN"):
        monkeypatch.delenv(name, raising=False)
    return real_keyring


def main_window(qtbot: QtBot, registry: BlockRegistry, link: SupervisorLink) -> MainWindow:
    window = MainWindow(registry, link.paths, theme=LIGHT, connection=link, prompts=Prompts())
    qtbot.addWidget(window)
    return window


def files_holding(folder: Path, forms: dict[str, bytes]) -> list[str]:
    """Each form of a secret found in a file under ``folder``, and where."""
    return [
        f"{name} in {path.relative_to(folder)}"
        for path in folder.rglob("*")
        if path.is_file()
        for name, form in forms.items()
        if form in path.read_bytes()
    ]


def test_the_link_follows_a_remote_supervisor(
    served: TlsDaemon, qapp: QApplication, new_link: NewLink, tmp_path: Path
) -> None:
    link = new_link(RemoteApi(url=served.url, ca_file=served.cert.cert, token=TOKEN)).start()
    pumped(qapp, lambda: link.connected and link.stream_open)
    assert link.health is not None and link.health.pid == os.getpid()
    assert served.url in link.target
    assert link.supervisor_process is None  # another machine's is never started from here
    with pytest.raises(DeskpilotError, match="is a file on this machine"):
        link.start_run(tmp_path / "mine.yaml", {})  # its supervisor would read its own disk


def test_a_wrong_token_shows_why_in_the_banner(
    served: TlsDaemon, qapp: QApplication, new_link: NewLink
) -> None:
    link = new_link(RemoteApi(url=served.url, ca_file=served.cert.cert, token="w" * 40)).start()
    pumped(qapp, lambda: "refused the API token (401)" in link.banner)
    assert not link.connected and served.url in link.banner


def test_connect_from_the_machines_panel_and_back(
    served: TlsDaemon,
    qapp: QApplication,
    qtbot: QtBot,
    new_link: NewLink,
    token_keyring: RealKeyring,
    tmp_path: Path,
) -> None:
    link = new_link()
    view = MachinesView(link, LIGHT)
    qtbot.addWidget(view)
    link.start()
    assert "this machine" in view.target.text() and not view.local_button.isVisibleTo(view)
    dialog = ConnectDialog(link, served.url, view)
    dialog.ca_edit.setText(str(served.stranger.cert))
    dialog.token_edit.setText(TOKEN)
    dialog.try_connect()
    pumped(qapp, lambda: "not trusted" in dialog.status.text())
    assert link.remote is None  # nothing saved or switched on a failure
    dialog.ca_edit.setText(str(served.cert.cert))
    dialog.try_connect()
    pumped(qapp, lambda: dialog.result() == QDialog.DialogCode.Accepted)
    assert link.remote is not None and link.remote.url == served.url
    pumped(qapp, lambda: link.connected)
    assert served.url in view.target.text() and view.local_button.isVisibleTo(view)
    saved = connection_path(link.paths.config_dir).read_text()
    assert served.url in saved and TOKEN not in saved
    assert keyring_token(served.url) == TOKEN
    # settings, logs, the saved connection: the keyring holds it
    assert files_holding(tmp_path, {"plain": TOKEN.encode()}) == []
    view.local_button.click()
    assert link.remote is None and not connection_path(link.paths.config_dir).exists()
    assert "this machine" in view.target.text()


def test_trust_on_first_use_pins_the_certificate_and_a_change_is_refused(
    served: TlsDaemon,
    qapp: QApplication,
    qtbot: QtBot,
    new_link: NewLink,
    token_keyring: RealKeyring,
) -> None:
    import json

    from supervisor.pinning import fingerprint

    link = new_link()
    theirs = fingerprint(der_of(served.cert))
    dialog = ConnectDialog(link, served.url)
    qtbot.addWidget(dialog)
    dialog.token_edit.setText(TOKEN)
    dialog.try_connect()  # nothing vouches for a self-signed certificate
    pumped(qapp, lambda: dialog.trust_box.isVisibleTo(dialog))
    assert "not trusted" in dialog.status.text() and link.remote is None
    assert "Trust this certificate" in dialog.status.text()
    assert dialog.trust_fingerprint.text() == theirs
    assert "CN=localhost (self-signed)" in dialog.trust_subject.text()
    assert " to " in dialog.trust_validity.text()
    assert dialog.trust_button.isVisibleTo(dialog)
    dialog.trust_button.click()
    pumped(qapp, lambda: dialog.result() == QDialog.DialogCode.Accepted)
    assert link.remote is not None and link.remote.pin == theirs
    saved = json.loads(connection_path(link.paths.config_dir).read_text())
    assert saved["pin"] == theirs and TOKEN not in json.dumps(saved)
    pumped(qapp, lambda: link.connected)
    # later the machine presents another certificate: refused, both named, token unsent
    stranger = fingerprint(der_of(served.stranger))
    link.switch(RemoteApi(url=served.url, pin=stranger, token=TOKEN))
    pumped(qapp, lambda: "is not the pinned one" in link.banner)
    assert f"expected {stranger}, presented {theirs}" in link.banner
    assert not link.connected
    again = ConnectDialog(link, served.url)
    qtbot.addWidget(again)
    again.pin_edit.setText(stranger)
    again.try_connect()  # a changed certificate is shown, never trusted with one click
    pumped(qapp, lambda: again.trust_box.isVisibleTo(again))
    assert not again.trust_button.isVisibleTo(again)
    assert f"expected {stranger}, presented {theirs}" in again.status.text()
    assert "Nothing was sent to it" in again.status.text()
    assert "another certificate than the pinned one" in again.trust_title.text()


def test_the_tray_names_the_remote_machine_and_shows_its_health(
    served: TlsDaemon, qapp: QApplication, new_link: NewLink
) -> None:
    """This home has no supervisor: all well can only be the remote machine's health."""
    import socket

    from app.tray import DeskpilotTray, TrayState

    link = new_link()
    tray = DeskpilotTray(
        link, open_window=lambda: None, show_run=lambda _r: None, quit_app=lambda: None
    )
    link.start()
    try:
        assert tray.header_action.text() == "Deskpilot — this machine"
        pumped(qapp, lambda: "not running" in link.banner)
        assert tray.icon.toolTip() == "Deskpilot — this machine: the supervisor is not running"
        link.switch(RemoteApi(url=served.url, ca_file=served.cert.cert, token=TOKEN))
        assert tray.header_action.text() == "Deskpilot — 127.0.0.1 (remote)"
        assert tray.menu.actions()[0] is tray.header_action
        pumped(qapp, lambda: tray.state is not TrayState.DOWN)
        assert tray.icon.toolTip().startswith("Deskpilot — 127.0.0.1 (remote): "), (
            tray.icon.toolTip()
        )
        assert link.health is not None and link.health.pid == os.getpid()  # served here
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]
        link.switch(RemoteApi(url=f"https://127.0.0.1:{closed}", token=TOKEN))
        pumped(qapp, lambda: "cannot reach" in tray.icon.toolTip())
        tip = tray.icon.toolTip()
        assert tip.startswith("Deskpilot — 127.0.0.1 (remote): its supervisor does not answer")
        assert tray.state is TrayState.DOWN
    finally:
        tray.deleteLater()


def test_preferences_connect_with_a_pin_keep_the_token_in_the_keyring_and_forget_it(
    served: TlsDaemon,
    qapp: QApplication,
    qtbot: QtBot,
    registry: BlockRegistry,
    new_link: NewLink,
    token_keyring: RealKeyring,
    tmp_path: Path,
) -> None:
    """The Preferences' Connection page, then the canary sweep of every file the window
    wrote (gui.ini included) for every form of the token."""
    import json

    from app.preferences_dialog import PreferencesDialog
    from supervisor.pinning import fingerprint
    from tests.integration.test_canary_sweep import canary_forms

    link = new_link()
    window = main_window(qtbot, registry, link)
    link.start()
    window.preferences_action.trigger()
    dialog = window.findChild(PreferencesDialog)
    assert dialog is not None and dialog.form is not None
    form = dialog.form
    dialog.tabs.setCurrentIndex(1)
    dialog.remote_choice.setChecked(True)
    assert form.isEnabled()
    form.url_edit.setText(served.url)
    qapp.processEvents()
    below = form.token_edit.geometry()
    form.pin_edit.setText("sha256:123")  # refused where it is typed, nothing moves
    qapp.processEvents()
    assert "not a SHA-256 certificate fingerprint" in form.problem.text()
    assert not dialog.ok_button.isEnabled()
    assert form.token_edit.geometry() == below
    theirs = fingerprint(der_of(served.cert))
    form.pin_edit.setText(theirs)
    assert form.problem.text() == "" and dialog.ok_button.isEnabled()
    assert dialog.token_state.text() == "none for this address"
    form.token_edit.setText(TOKEN)
    assert dialog.apply() is False  # connecting, off the GUI thread
    pumped(qapp, lambda: link.remote is not None and link.remote.url == served.url)
    assert link.remote is not None and link.remote.pin == theirs
    assert form.token_edit.text() == ""  # the keyring has it, the field holds nothing
    assert keyring_token(served.url) == TOKEN
    assert dialog.token_state.text() == "one is in the OS keyring for this address"
    pumped(qapp, lambda: link.connected)
    saved = json.loads(connection_path(link.paths.config_dir).read_text())
    assert saved == {"url": served.url, "ca_file": None, "pin": theirs}
    dialog.forget_button.click()
    assert keyring_token(served.url) is None and not dialog.forget_button.isEnabled()
    dialog.local_choice.setChecked(True)
    dialog._ok()
    assert link.remote is None and not dialog.isVisible()
    window.save_state()
    assert (link.paths.config_dir / "gui.ini").is_file()
    assert files_holding(tmp_path, canary_forms(TOKEN)) == []


def test_the_window_title_and_menu_follow_the_connection(
    served: TlsDaemon, qapp: QApplication, qtbot: QtBot, registry: BlockRegistry, new_link: NewLink
) -> None:
    from app.runs.panels import RunPanels

    link = new_link()
    window = main_window(qtbot, registry, link)
    panels = RunPanels.install(window, link)
    link.start()
    assert window.windowTitle() == "Deskpilot" and not panels.local_action.isEnabled()
    link.switch(RemoteApi(url=served.url, ca_file=served.cert.cert, token=TOKEN))
    assert window.windowTitle() == "Deskpilot — 127.0.0.1"
    assert panels.local_action.isEnabled() and not panels.start_action.isEnabled()
    pumped(qapp, lambda: link.connected)
    link.start_supervisor()  # another machine's: nothing is started here
    assert link.supervisor_process is None
    panels.local_action.trigger()
    assert window.windowTitle() == "Deskpilot" and link.remote is None
