"""The window talks to another machine's supervisor: over TLS, chosen in the Machines panel.

A real supervisor serves HTTPS on 127.0.0.1 with a certificate made here;
the window's link lives in another home with no supervisor of its own, so
whatever it shows came over the remote connection.  The token is kept in a
real (private) keyring, never in the saved connection.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QDialog
from pytestqt.qtbot import QtBot

from app.machines_view import MachinesView
from app.remote_connect import ConnectDialog
from app.supervisor_link import SupervisorLink, job_pool
from app.theme import LIGHT
from automation.blocks.registry import BlockRegistry
from automation.errors import DeskpilotError
from supervisor.paths import DeskpilotPaths
from supervisor.remote import RemoteApi, connection_path, keyring_token
from tests.helpers.common import eventually
from tests.helpers.keyring_session import RealKeyring
from tests.helpers.tls import TlsDaemon, der_of, tls_daemon

TOKEN = "window-remote-token-0b9e8d7c6a5f4e3d2c1b0a99887766"


@pytest.fixture(scope="module")
def served() -> Iterator[TlsDaemon]:
    with tls_daemon(TOKEN) as daemon:
        yield daemon


def pumped(qapp: QApplication, check: object) -> object:
    def once() -> object:
        qapp.processEvents()
        return check() if callable(check) else check

    return eventually(once, timeout=20)


def stopped(link: SupervisorLink, qapp: QApplication) -> None:
    link.stop()
    job_pool().waitForDone(10_000)
    qapp.processEvents()


def test_the_link_follows_a_remote_supervisor(
    served: TlsDaemon, qapp: QApplication, tmp_path: Path
) -> None:
    remote = RemoteApi(url=served.url, ca_file=served.cert.cert, token=TOKEN)
    link = SupervisorLink(
        DeskpilotPaths.under(tmp_path), autostart=False, poll_interval=0.5, remote=remote
    )
    link.start()
    try:
        pumped(qapp, lambda: link.connected and link.stream_open)
        assert link.health is not None and link.health.pid == os.getpid()
        assert served.url in link.target
        assert link.supervisor_process is None  # another machine's is never started from here
        with pytest.raises(DeskpilotError, match="is a file on this machine"):
            link.start_run(tmp_path / "mine.yaml", {})  # its supervisor would read its own disk
    finally:
        stopped(link, qapp)


def test_a_wrong_token_shows_why_in_the_banner(
    served: TlsDaemon, qapp: QApplication, tmp_path: Path
) -> None:
    remote = RemoteApi(url=served.url, ca_file=served.cert.cert, token="w" * 40)
    link = SupervisorLink(
        DeskpilotPaths.under(tmp_path), autostart=False, poll_interval=0.5, remote=remote
    )
    link.start()
    try:
        pumped(qapp, lambda: "refused the API token (401)" in link.banner)
        assert not link.connected and served.url in link.banner
    finally:
        stopped(link, qapp)


def test_connect_from_the_machines_panel_and_back(
    served: TlsDaemon,
    qapp: QApplication,
    tmp_path: Path,
    real_keyring: RealKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DESKPILOT_KEYRING_SERVICE", "dp-window-remote-test")
    monkeypatch.delenv("DESKPILOT_API_TOKEN", raising=False)
    paths = DeskpilotPaths.under(tmp_path).ensure()
    link = SupervisorLink(paths, autostart=False, poll_interval=0.5, remote=None)
    view = MachinesView(link, LIGHT)
    link.start()
    try:
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
        saved = connection_path(paths.config_dir).read_text()
        assert served.url in saved and TOKEN not in saved
        assert keyring_token(served.url) == TOKEN
        leaked = [
            path
            for path in tmp_path.rglob("*")
            if path.is_file() and TOKEN.encode() in path.read_bytes()
        ]
        assert leaked == []  # settings, logs, the saved connection: the keyring holds it
        view.local_button.click()
        assert link.remote is None and not connection_path(paths.config_dir).exists()
        assert "this machine" in view.target.text()
    finally:
        stopped(link, qapp)
        view.deleteLater()


def test_trust_on_first_use_pins_the_certificate_and_a_change_is_refused(
    served: TlsDaemon,
    qapp: QApplication,
    tmp_path: Path,
    real_keyring: RealKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    from supervisor.pinning import fingerprint

    monkeypatch.setenv("DESKPILOT_KEYRING_SERVICE", "dp-window-pin-test")
    for name in ("DESKPILOT_API_TOKEN", "DESKPILOT_API_CA", "DESKPILOT_API_PIN"):
        monkeypatch.delenv(name, raising=False)
    paths = DeskpilotPaths.under(tmp_path).ensure()
    link = SupervisorLink(paths, autostart=False, poll_interval=0.5, remote=None)
    theirs = fingerprint(der_of(served.cert))
    dialog = ConnectDialog(link, served.url)
    try:
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
        saved = json.loads(connection_path(paths.config_dir).read_text())
        assert saved["pin"] == theirs and TOKEN not in json.dumps(saved)
        pumped(qapp, lambda: link.connected)
        # later the machine presents another certificate: refused, both named, token unsent
        stranger = fingerprint(der_of(served.stranger))
        link.switch(RemoteApi(url=served.url, pin=stranger, token=TOKEN))
        pumped(qapp, lambda: "is not the pinned one" in link.banner)
        assert f"expected {stranger}, presented {theirs}" in link.banner
        assert not link.connected
        again = ConnectDialog(link, served.url)
        again.pin_edit.setText(stranger)
        again.try_connect()  # a changed certificate is shown, never trusted with one click
        pumped(qapp, lambda: again.trust_box.isVisibleTo(again))
        assert not again.trust_button.isVisibleTo(again)
        assert f"expected {stranger}, presented {theirs}" in again.status.text()
        assert "Nothing was sent to it" in again.status.text()
        assert "another certificate than the pinned one" in again.trust_title.text()
        again.deleteLater()
    finally:
        stopped(link, qapp)
        dialog.deleteLater()


def test_the_tray_names_the_remote_machine_and_shows_its_health(
    served: TlsDaemon, qapp: QApplication, tmp_path: Path
) -> None:
    """This home has no supervisor: all well can only be the remote machine's health."""
    import socket

    from app.tray import DeskpilotTray, TrayState

    paths = DeskpilotPaths.under(tmp_path).ensure()
    link = SupervisorLink(paths, autostart=False, poll_interval=0.5, remote=None)
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
        stopped(link, qapp)
        tray.deleteLater()


def test_preferences_connect_with_a_pin_keep_the_token_in_the_keyring_and_forget_it(
    served: TlsDaemon,
    qapp: QApplication,
    qtbot: QtBot,
    registry: BlockRegistry,
    tmp_path: Path,
    real_keyring: RealKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Preferences' Connection page, then the canary sweep of every file the window
    wrote (gui.ini included) for every form of the token."""
    import json

    from app import theme as themes
    from app.main_window import MainWindow
    from app.preferences_dialog import PreferencesDialog
    from app.prompts import Prompts
    from supervisor.pinning import fingerprint
    from tests.integration.test_canary_sweep import canary_forms

    monkeypatch.setenv("DESKPILOT_KEYRING_SERVICE", "dp-window-prefs-test")
    for name in ("DESKPILOT_API_TOKEN", "DESKPILOT_API_CA", "DESKPILOT_API_PIN"):
        monkeypatch.delenv(name, raising=False)
    paths = DeskpilotPaths.under(tmp_path).ensure()
    link = SupervisorLink(paths, autostart=False, poll_interval=0.5, remote=None)
    window = MainWindow(registry, paths, theme=themes.LIGHT, connection=link, prompts=Prompts())
    qtbot.addWidget(window)
    link.start()
    try:
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
        saved = json.loads(connection_path(paths.config_dir).read_text())
        assert saved == {"url": served.url, "ca_file": None, "pin": theirs}
        dialog.forget_button.click()
        assert keyring_token(served.url) is None and not dialog.forget_button.isEnabled()
        dialog.local_choice.setChecked(True)
        dialog._ok()
        assert link.remote is None and not dialog.isVisible()
        window.save_state()
        forms = canary_forms(TOKEN)
        leaked = [
            f"{name} in {path.relative_to(tmp_path)}"
            for path in tmp_path.rglob("*")
            if path.is_file()
            for name, form_bytes in forms.items()
            if form_bytes in path.read_bytes()
        ]
        assert (paths.config_dir / "gui.ini").is_file()
        assert leaked == []
    finally:
        stopped(link, qapp)


def test_the_window_title_and_menu_follow_the_connection(
    served: TlsDaemon, qapp: QApplication, qtbot: QtBot, registry: BlockRegistry, tmp_path: Path
) -> None:
    from app import theme as themes
    from app.main_window import MainWindow
    from app.prompts import Prompts
    from app.runs.panels import RunPanels

    paths = DeskpilotPaths.under(tmp_path).ensure()
    link = SupervisorLink(paths, autostart=False, poll_interval=0.5, remote=None)
    window = MainWindow(registry, paths, theme=themes.LIGHT, connection=link, prompts=Prompts())
    qtbot.addWidget(window)
    panels = RunPanels.install(window, link)
    link.start()
    try:
        assert window.windowTitle() == "Deskpilot" and not panels.local_action.isEnabled()
        link.switch(RemoteApi(url=served.url, ca_file=served.cert.cert, token=TOKEN))
        assert window.windowTitle() == "Deskpilot — 127.0.0.1"
        assert panels.local_action.isEnabled() and not panels.start_action.isEnabled()
        pumped(qapp, lambda: link.connected)
        link.start_supervisor()  # another machine's: nothing is started here
        assert link.supervisor_process is None
        panels.local_action.trigger()
        assert window.windowTitle() == "Deskpilot" and link.remote is None
    finally:
        stopped(link, qapp)
