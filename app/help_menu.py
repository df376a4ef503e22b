"""Help menu dialogs: the documentation (the README, read here, no browser or network),
the keyboard shortcuts of every menu command, and About (version and the paths in use)."""

from __future__ import annotations

import sys
from importlib import metadata

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QMenuBar,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.resources import readme_path, resources_dir
from supervisor.paths import DeskpilotPaths


def version() -> str:
    try:
        return metadata.version("deskpilot")
    except metadata.PackageNotFoundError:  # a bundle or a bare checkout
        return "unknown"


def _dialog(parent: QWidget | None, title: str, body: QWidget, size: tuple[int, int]) -> QDialog:
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    layout = QVBoxLayout(dialog)
    layout.addWidget(body)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)
    dialog.resize(*size)
    return dialog


def documentation_dialog(parent: QWidget | None = None) -> QDialog:
    browser = QTextBrowser()
    browser.setObjectName("documentation")
    browser.setOpenExternalLinks(True)
    path = readme_path()
    if path is None:
        browser.setPlainText(
            f"The README was not found beside the resources ({resources_dir()}).\n"
            "It is online at the project's home page."
        )
    else:
        browser.setMarkdown(path.read_text(encoding="utf-8"))
    return _dialog(parent, "Deskpilot documentation", browser, (900, 700))


def shortcut_rows(menu_bar: QMenuBar) -> list[tuple[str, str, str]]:
    """(menu, command, shortcuts) for every menu command that has a shortcut."""
    rows = []
    for menu_action in menu_bar.actions():
        menu = menu_action.menu()
        if menu is None:
            continue
        for action in menu.actions():  # type: ignore[attr-defined]
            keys = ", ".join(
                s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts()
            )
            if keys and action.text():
                rows.append(
                    (menu_action.text().replace("&", ""), action.text().replace("&", ""), keys)
                )
    return rows


def shortcuts_dialog(menu_bar: QMenuBar, parent: QWidget | None = None) -> QDialog:
    rows = shortcut_rows(menu_bar)
    table = QTableWidget(len(rows), 3)
    table.setObjectName("shortcuts")
    table.setHorizontalHeaderLabels(["Menu", "Command", "Keys"])
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    for row, values in enumerate(rows):
        for column, value in enumerate(values):
            table.setItem(row, column, QTableWidgetItem(value))
    table.resizeColumnsToContents()
    table.horizontalHeader().setStretchLastSection(True)
    return _dialog(parent, "Keyboard shortcuts", table, (560, 620))


def about_text(paths: DeskpilotPaths) -> str:
    lines = [
        f"Deskpilot {version()}",
        f"Python {sys.version.split()[0]} ({sys.executable})",
        "",
        f"Workflows: {paths.workflows_dir}",
        f"History database: {_without_password(paths.database_url)}",
        f"Settings: {paths.config_dir}",
        f"Logs: {paths.log_dir}",
        f"Run artifacts: {paths.artifacts_dir}",
        f"Resources (icons, examples): {resources_dir()}",
    ]
    return "\n".join(lines)


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def about_dialog(paths: DeskpilotPaths, parent: QWidget | None = None) -> QDialog:
    browser = QTextBrowser()
    browser.setObjectName("about")
    browser.setPlainText(about_text(paths))
    return _dialog(parent, "About Deskpilot", browser, (720, 320))
