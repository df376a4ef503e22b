"""The main window: the workflows list on the left, editor tabs on the right.

Menus hold every command with its shortcut, so everything can be done from
the keyboard; editing commands act on the current tab.  Window state
(geometry, splitters, open files) is kept in ``gui.ini`` in Deskpilot's config
folder (under ``DESKPILOT_HOME`` when that is set).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, QRect, QSettings, Qt
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QGuiApplication,
    QKeySequence,
    QUndoGroup,
)
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app import gallery, help_menu, library
from app import theme as themes
from app.connection import SupervisorConnection
from app.editor.document import WorkflowDocument
from app.editor.widget import EditorWidget
from app.preferences import SETTINGS_FILE as SETTINGS_FILE
from app.preferences import open_settings
from app.prompts import Prompts
from app.resources import icon, templates_dir
from app.theme import Theme
from app.welcome import WelcomePage
from app.workflow_list import WorkflowListModel, WorkflowListView
from automation.blocks.registry import BlockRegistry
from automation.errors import DeskpilotError
from supervisor.paths import DeskpilotPaths

log = logging.getLogger(__name__)

#: the window's size on the first start, on a screen with room for it
DEFAULT_SIZE = (1440, 900)
#: the narrowest the workflows pane gets: a name of 20 characters and its state
WORKFLOWS_PANE_MIN = 180


def workflows_pane_width(window_width: int) -> int:
    """The workflows pane's first width: a sixth of the window, 220 to 320 pixels.

    Enough for a name like "desktop-click-image" and its state; the triggers and
    last-run columns show once the pane is wider (``WorkflowListView``), and the
    canvas keeps most of a 1366-pixel window.
    """
    return max(WORKFLOWS_PANE_MIN + 40, min(320, window_width // 6))


class MainWindow(QMainWindow):
    def __init__(
        self,
        registry: BlockRegistry,
        paths: DeskpilotPaths,
        *,
        theme: Theme | None = None,
        connection: SupervisorConnection | None = None,
        settings: QSettings | None = None,
        prompts: Prompts | None = None,
    ) -> None:
        super().__init__()
        self.registry = registry
        self.paths = paths
        self.theme = theme or themes.current()
        self.connection = connection
        self.settings = settings or open_settings(paths)
        #: what File > Quit calls; the desktop shell sets it to quit the tray as well
        self.quit_handler: Callable[[], None] | None = None
        self.prompts = prompts or Prompts(self)
        self.setWindowTitle("Deskpilot")
        self.setWindowIcon(icon("deskpilot"))
        self.undo_group = QUndoGroup(self)
        self.list_model = WorkflowListModel(
            paths.workflows_dir, registry, self.theme, connection, self
        )
        self.workflows = WorkflowListView(self.list_model)
        self.workflows.open_requested.connect(self.open_workflow)
        self.tabs = QTabWidget()
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(True)
        self.tabs.setDocumentMode(True)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.tabs.currentChanged.connect(self._tab_changed)
        # shown where the tabs are when no workflow is open
        self.empty = self._welcome_page()
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.tabs)
        right_layout.addWidget(self.empty)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("main_splitter")
        self.splitter.addWidget(self._left_panel())
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        # the workflows pane can be made narrow, never closed by a drag: names stay readable
        self.splitter.setCollapsible(0, False)
        self.splitter.setSizes([workflows_pane_width(DEFAULT_SIZE[0]), DEFAULT_SIZE[0]])
        self.setCentralWidget(self.splitter)
        self.connection_label = QLabel()
        self.statusBar().addPermanentWidget(self.connection_label)
        self._build_menus()
        self._update_connection()
        if connection is not None:
            connection.subscribe(self._update_connection)
        QGuiApplication.styleHints().colorSchemeChanged.connect(
            lambda _s: self.follow_system_theme()
        )
        self._update_empty()
        self.restore_state()

    # -- layout -------------------------------------------------------------------------
    def _welcome_page(self) -> WelcomePage:
        page = WelcomePage(self.theme)
        page.open_example.connect(self.open_example_copy)
        page.new_requested.connect(self.new_workflow)
        page.template_requested.connect(self.new_from_template)
        return page

    def _left_panel(self) -> QWidget:
        panel = QWidget()
        panel.setMinimumWidth(WORKFLOWS_PANE_MIN)
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        bar = QToolBar("Workflows")
        bar.setObjectName("workflows_toolbar")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.new_action = self._action("&New workflow…", "Ctrl+N", self.new_workflow, "new")
        self.duplicate_action = self._action(
            "&Duplicate", "Ctrl+Shift+D", self.duplicate_workflow, "duplicate"
        )
        self.rename_action = self._action("&Rename…", "F2", self.rename_workflow, "rename")
        self.trash_action = self._action(
            "Move to &trash", "Shift+Del", self.delete_workflow, "delete"
        )
        self.template_action = self._action(
            "New from &template…", "Ctrl+Shift+N", self.new_from_template
        )
        self.import_action = self._action("&Import…", "Ctrl+I", self.import_workflow, "import")
        self.export_action = self._action("&Export…", "Ctrl+E", self.export_workflow, "export")
        for action in (self.new_action, self.duplicate_action, self.rename_action,
                       self.trash_action, self.import_action, self.export_action):  # fmt: skip
            bar.addAction(action)
        title = QLabel(f"  Workflows in {self.paths.workflows_dir.name}/")
        title.setToolTip(str(self.paths.workflows_dir))
        title.setStyleSheet(f"color: {self.theme.muted}; padding: 4px 0;")
        # a long folder path must not widen the panel: it is cut off, the tooltip has it all
        title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout.addWidget(bar)
        layout.addWidget(title)
        layout.addWidget(self.workflows)
        return panel

    def _action(
        self, text: str, shortcut: str | QKeySequence.StandardKey | None, slot: Callable[[], object],
        icon_name: str | None = None,
    ) -> QAction:  # fmt: skip
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if icon_name:
            action.setIcon(icon(icon_name))
        tip = text.replace("&", "").rstrip("…")
        if shortcut is not None:
            tip += f" ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
        action.setToolTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.save_action = self._action("&Save", QKeySequence.StandardKey.Save, self.save_current)
        self.close_tab_action = self._action(
            "&Close tab", QKeySequence.StandardKey.Close, self.close_current
        )
        quit_action = self._action("&Quit", QKeySequence.StandardKey.Quit, self.request_quit)
        for action in (self.new_action, self.template_action, self.import_action, self.export_action, None,
                       self.save_action, self.close_tab_action, None, quit_action):  # fmt: skip
            file_menu.addSeparator() if action is None else file_menu.addAction(action)
        edit = bar.addMenu("&Edit")
        self.undo_action = self.undo_group.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = self.undo_group.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.cut_action = self._action(
            "Cu&t", QKeySequence.StandardKey.Cut, lambda: self._on_editor(EditorWidget.cut)
        )
        self.copy_action = self._action(
            "&Copy", QKeySequence.StandardKey.Copy, lambda: self._on_editor(EditorWidget.copy)
        )
        self.paste_action = self._action(
            "&Paste", QKeySequence.StandardKey.Paste, lambda: self._on_editor(EditorWidget.paste)
        )
        self.delete_action = self._action(
            "&Delete", QKeySequence.StandardKey.Delete, self.delete_selection
        )
        self.delete_action.setShortcuts(
            [QKeySequence(QKeySequence.StandardKey.Delete), QKeySequence("Backspace")]
        )
        self.select_all_action = self._action(
            "Select &all",
            QKeySequence.StandardKey.SelectAll,
            lambda: self._on_editor(EditorWidget.select_all),
        )
        self.preferences_action = self._action("&Preferences…", "Ctrl+,", self.show_preferences)
        for action in (self.undo_action, self.redo_action, None, self.cut_action, self.copy_action,
                       self.paste_action, self.delete_action, self.select_all_action, None,
                       self.preferences_action):  # fmt: skip
            edit.addSeparator() if action is None else edit.addAction(action)
        view = bar.addMenu("&View")
        self.find_block_action = self._action("&Find block…", "Ctrl+K", self.focus_palette)
        self.fit_action = self._action("&Fit to window", "Ctrl+0", lambda: self._on_view("fit_all"))
        zoom_in = self._action(
            "Zoom &in", QKeySequence.StandardKey.ZoomIn, lambda: self._on_zoom(1.25)
        )
        zoom_in.setShortcuts(
            [QKeySequence(QKeySequence.StandardKey.ZoomIn), QKeySequence("Ctrl+=")]
        )
        zoom_out = self._action(
            "Zoom &out", QKeySequence.StandardKey.ZoomOut, lambda: self._on_zoom(0.8)
        )
        self.layout_action = self._action(
            "&Tidy up layout", "Ctrl+L", lambda: self._on_editor(EditorWidget.auto_layout)
        )
        focus_list = self._action("Go to &workflows", "Ctrl+1", lambda: self.workflows.setFocus())
        focus_canvas = self._action("Go to &canvas", "Ctrl+2", lambda: self._focus("view"))
        focus_props = self._action("Go to &properties", "Ctrl+3", lambda: self._focus("properties"))
        next_tab = self._action(
            "Next tab", QKeySequence.StandardKey.NextChild, lambda: self._cycle_tab(1)
        )
        next_tab.setShortcuts([QKeySequence("Ctrl+Tab"), QKeySequence("Ctrl+PgDown")])
        prev_tab = self._action("Previous tab", "Ctrl+Shift+Tab", lambda: self._cycle_tab(-1))
        prev_tab.setShortcuts([QKeySequence("Ctrl+Shift+Tab"), QKeySequence("Ctrl+PgUp")])
        for action in (self.find_block_action, None, self.fit_action, zoom_in, zoom_out, self.layout_action,
                       None, focus_list, focus_canvas, focus_props, next_tab, prev_tab):  # fmt: skip
            view.addSeparator() if action is None else view.addAction(action)
        workflow = bar.addMenu("&Workflow")
        self.run_action = self._action(
            "&Run", "F5", lambda: self._on_editor(EditorWidget.run), "run"
        )
        self.run_action.setShortcuts([QKeySequence("F5"), QKeySequence("Ctrl+R")])
        self.validate_action = self._action(
            "&Check now", "Ctrl+Shift+V", lambda: self._on_editor(EditorWidget.validate_now)
        )
        for action in (self.run_action, self.validate_action, None, self.duplicate_action,
                       self.rename_action, self.trash_action):  # fmt: skip
            workflow.addSeparator() if action is None else workflow.addAction(action)
        help_menu = self.help_menu = bar.addMenu("&Help")
        self.welcome_action = self._action("&Welcome and examples", None, self.show_welcome)
        self.docs_action = self._action("&Documentation", "F1", self.show_documentation)
        self.shortcuts_action = self._action("&Keyboard shortcuts", "Ctrl+/", self.show_shortcuts)
        self.about_action = self._action("&About Deskpilot", None, self.show_about)
        for action in (self.welcome_action, self.docs_action, self.shortcuts_action, None,
                       self.about_action):  # fmt: skip
            help_menu.addSeparator() if action is None else help_menu.addAction(action)
        self._update_actions()

    # -- editors -----------------------------------------------------------------------
    def editors(self) -> list[EditorWidget]:
        return [
            w
            for i in range(self.tabs.count())
            if isinstance(w := self.tabs.widget(i), EditorWidget)
        ]

    def current_editor(self) -> EditorWidget | None:
        widget = self.tabs.currentWidget()
        return widget if isinstance(widget, EditorWidget) else None

    def _on_editor(self, method: Callable[[EditorWidget], object]) -> None:
        editor = self.current_editor()
        if editor is not None:
            method(editor)

    def _on_view(self, name: str) -> None:
        editor = self.current_editor()
        if editor is not None:
            getattr(editor.view, name)()

    def _on_zoom(self, factor: float) -> None:
        editor = self.current_editor()
        if editor is not None:
            editor.view.zoom_by(factor)

    def _focus(self, part: str) -> None:
        editor = self.current_editor()
        if editor is not None:
            getattr(editor, part).setFocus(Qt.FocusReason.ShortcutFocusReason)

    def focus_palette(self) -> None:
        editor = self.current_editor()
        if editor is not None:
            editor.blocks.focus_search()

    def _cycle_tab(self, step: int) -> None:
        if self.tabs.count():
            self.tabs.setCurrentIndex((self.tabs.currentIndex() + step) % self.tabs.count())

    def editor_for(self, path: Path) -> EditorWidget | None:
        for editor in self.editors():
            if editor.path is not None and editor.path.resolve() == path.resolve():
                return editor
        return None

    def open_workflow(self, path: Path) -> EditorWidget | None:
        existing = self.editor_for(path)
        if existing is not None:
            self.tabs.setCurrentWidget(existing)
            return existing
        try:
            document = WorkflowDocument.open(path)
        except DeskpilotError as exc:
            self.prompts.error(
                "Cannot open workflow", f"{path.name} cannot be opened in the editor:\n\n{exc}"
            )
            return None
        editor = EditorWidget(document, self.registry, self.theme, self.connection)
        state = self.settings.value("editor/splitter")
        if isinstance(state, QByteArray):
            editor.splitter.restoreState(state)
        self.undo_group.addStack(editor.undo_stack)
        editor.title_changed.connect(lambda title, e=editor: self._retitle(e, title))
        editor.status_message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        editor.saved.connect(lambda _p: self.list_model.refresh())
        index = self.tabs.addTab(editor, editor.title())
        self.tabs.setTabToolTip(index, str(path))
        self.tabs.setCurrentIndex(index)
        self._update_empty()
        editor.view.show_overview()
        return editor

    def _retitle(self, editor: EditorWidget, title: str) -> None:
        index = self.tabs.indexOf(editor)
        if index >= 0:
            self.tabs.setTabText(index, title)
            self.tabs.setTabToolTip(index, str(editor.path or ""))

    def _tab_changed(self, _index: int) -> None:
        editor = self.current_editor()
        # Qt takes None (no active stack); the stubs do not say so
        self.undo_group.setActiveStack(editor.undo_stack if editor else None)  # type: ignore[arg-type]
        if editor is not None and editor.path is not None:
            self.workflows.select_path(editor.path)
        self._update_actions()
        self._update_empty()

    def _update_empty(self) -> None:
        has_tabs = self.tabs.count() > 0
        self.tabs.setVisible(has_tabs)
        self.empty.setVisible(not has_tabs)

    def _update_actions(self) -> None:
        has_editor = self.current_editor() is not None
        for action in (self.save_action, self.close_tab_action, self.cut_action, self.copy_action,
                       self.paste_action, self.select_all_action, self.fit_action, self.layout_action,
                       self.validate_action, self.find_block_action):  # fmt: skip
            action.setEnabled(has_editor)
        editor = self.current_editor()
        self.run_action.setEnabled(editor is not None and editor.can_run())

    def _update_connection(self) -> None:
        ok = self.connection is not None and self.connection.connected
        self.connection_label.setText(
            "Supervisor: connected" if ok else "Supervisor: not connected"
        )
        self.connection_label.setStyleSheet(f"color: {self.theme.ok if ok else self.theme.muted};")
        if hasattr(self, "run_action"):
            self._update_actions()

    def save_current(self) -> bool:
        editor = self.current_editor()
        if editor is None:
            return False
        return self._save(editor)

    def _save(self, editor: EditorWidget) -> bool:
        try:
            editor.save()
        except DeskpilotError as exc:
            self.prompts.error("Cannot save", str(exc))
            return False
        return True

    def close_current(self) -> None:
        self.close_tab(self.tabs.currentIndex())

    def close_tab(self, index: int) -> bool:
        editor = self.tabs.widget(index)
        if editor is None:
            return True
        if not isinstance(editor, EditorWidget):  # the welcome tab
            self.tabs.removeTab(index)
            editor.deleteLater()
            self._update_empty()
            return True
        if editor.is_dirty():
            answer = self.prompts.save_discard_cancel(
                "Unsaved changes", f"Save the changes to '{editor.document.name}' before closing?"
            )
            if answer == "cancel" or (answer == "save" and not self._save(editor)):
                return False
        self.settings.setValue("editor/splitter", editor.splitter.saveState())
        self.undo_group.removeStack(editor.undo_stack)
        editor.close_editor()
        self.tabs.removeTab(index)
        editor.deleteLater()
        self._update_empty()
        return True

    def delete_selection(self) -> None:
        """Delete acts on what has focus: nodes on the canvas, or the workflow in the list."""
        if self.workflows.hasFocus():
            self.delete_workflow()
        else:
            self._on_editor(EditorWidget.delete_selection)

    # -- workflow files ------------------------------------------------------------------
    def _selected_path(self) -> Path | None:
        path = self.workflows.current_path()
        if path is None:
            editor = self.current_editor()
            path = editor.path if editor else None
        return path

    def _run_file_operation(self, what: str, operation: Callable[[], Path | None]) -> Path | None:
        try:
            result = operation()
        except DeskpilotError as exc:
            self.prompts.error(f"Cannot {what}", str(exc))
            return None
        self.list_model.refresh()
        if result is not None:
            self.workflows.select_path(result)
        return result

    def new_workflow(self) -> Path | None:
        folder = self.paths.workflows_dir
        name = self.prompts.ask_text(
            "New workflow", "Name:", library.unique_name(folder, "new-workflow")
        )
        if not name:
            return None
        path = self._run_file_operation(
            "create the workflow", lambda: library.new_workflow(folder, name)
        )
        if path is not None:
            self.open_workflow(path)
        return path

    def new_from_template(self) -> Path | None:
        """File › New from template: an empty workflow or a copy of a shipped template."""
        templates = {"Blank": None} | {
            f"{s.title} — {s.description}" if s.description else s.title: s.path
            for s in gallery.samples(templates_dir())
        }
        choice = self.prompts.choose("New from template", "Template:", list(templates))
        if choice is None:
            return None
        template = templates[choice]
        folder = self.paths.workflows_dir
        base = "new-workflow" if template is None else template.stem.replace("_", "-")
        name = self.prompts.ask_text("New workflow", "Name:", library.unique_name(folder, base))
        if not name:
            return None
        path = self._run_file_operation(
            "create the workflow", lambda: gallery.new_from_template(template, folder, name)
        )
        if path is not None:
            self.open_workflow(path)
        return path

    def open_example_copy(self, example: Path) -> Path | None:
        """The gallery's "Open a copy": the example (and its images, subflows) into the folder."""
        path = self._run_file_operation(
            "copy the example", lambda: gallery.open_copy(example, self.paths.workflows_dir)
        )
        if path is not None:
            self.open_workflow(path)
            self.statusBar().showMessage(f"Copied the example to {path}", 8000)
        return path

    # -- help ----------------------------------------------------------------------------
    def show_welcome(self) -> None:
        """Help › Welcome: the welcome page as a tab (it is the background when none is open)."""
        for i in range(self.tabs.count()):
            if isinstance(self.tabs.widget(i), WelcomePage):
                self.tabs.setCurrentIndex(i)
                return
        if self.tabs.count() == 0:
            return  # it is showing already
        index = self.tabs.addTab(self._welcome_page(), "Welcome")
        self.tabs.setCurrentIndex(index)

    def show_documentation(self) -> None:
        help_menu.documentation_dialog(self).open()

    def show_preferences(self) -> None:
        """Edit › Preferences…: the connection, schedule, notification and quit settings."""
        from app.preferences_dialog import PreferencesDialog

        dialog = self.findChild(PreferencesDialog)
        if dialog is None:  # a new one each time: it shows the settings as they are now
            dialog = PreferencesDialog(self.settings, self.connection, parent=self)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()

    def show_shortcuts(self) -> None:
        help_menu.shortcuts_dialog(self.menuBar(), self).open()

    def show_about(self) -> None:
        help_menu.about_dialog(self.paths, self).open()

    def duplicate_workflow(self) -> Path | None:
        source = self._selected_path()
        if source is None:
            return None
        return self._run_file_operation("duplicate", lambda: library.duplicate(source))

    def rename_workflow(self) -> Path | None:
        source = self._selected_path()
        if source is None:
            return None
        editor = self.editor_for(source)
        if editor is not None and editor.is_dirty():
            self.prompts.error(
                "Cannot rename", "Save or close the open editor of this workflow first."
            )
            return None
        entry = next((e for e in self.list_model.entries if e.path == source), None)
        name = self.prompts.ask_text(
            "Rename workflow", "New name:", entry.name if entry else source.stem
        )
        if not name:
            return None
        target = self._run_file_operation("rename", lambda: library.rename(source, name))
        if target is not None and editor is not None:
            index = self.tabs.indexOf(editor)
            self.close_tab(index)
            self.open_workflow(target)
        return target

    def delete_workflow(self) -> Path | None:
        source = self.workflows.current_path()
        if source is None:
            return None
        if not self.prompts.confirm(
            "Move to trash",
            f"Move '{source.name}' to the trash?\n\nIts triggers stop. It is kept in "
            f"{source.parent / library.TRASH} and can be moved back.",
        ):
            return None
        editor = self.editor_for(source)
        if editor is not None:
            editor.undo_stack.setClean()  # the file is going: nothing to save
            self.close_tab(self.tabs.indexOf(editor))
        return self._run_file_operation("move to trash", lambda: library.trash(source))

    def import_workflow(self) -> Path | None:
        source = self.prompts.open_file("Import workflow", Path.home())
        if source is None:
            return None
        folder = self.paths.workflows_dir
        overwrite = False
        if (folder / source.name).exists():
            overwrite = self.prompts.confirm(
                "Replace workflow", f"{source.name} already exists. Replace it?"
            )
            if not overwrite:
                return None
        return self._run_file_operation(
            "import", lambda: library.import_file(source, folder, overwrite=overwrite)
        )

    def export_workflow(self) -> Path | None:
        source = self._selected_path()
        if source is None:
            return None
        editor = self.editor_for(source)
        if editor is not None and editor.is_dirty() and not self._save(editor):
            return None
        warnings = library.literal_secret_warnings(source)
        if warnings and not self.prompts.confirm(
            "Export workflow",
            "These inputs look like credentials written into the file:\n\n"
            + "\n".join(warnings)
            + "\n\nExport anyway?",
        ):
            return None
        target = self.prompts.save_file("Export workflow", Path.home() / source.name)
        if target is None:
            return None
        try:
            library.export_file(source, target)
        except DeskpilotError as exc:
            self.prompts.error("Cannot export", str(exc))
            return None
        self.statusBar().showMessage(f"Exported to {target}", 8000)
        return target

    # -- theme and state -----------------------------------------------------------------
    def follow_system_theme(self) -> None:
        app = QApplication.instance()
        if not isinstance(app, QApplication):
            return
        self.theme = themes.apply(app)
        self.list_model.theme = self.theme
        for editor in self.editors():
            editor.set_theme(self.theme)

    def restore_state(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.fit_to_screen()
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        splitter = self.settings.value("window/splitter")
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)
        else:
            self.default_split()
        files = self.settings.value("session/open_files") or []
        if isinstance(files, str):
            files = [files]
        for name in files if isinstance(files, list) else []:
            path = Path(str(name))
            if path.is_file():
                self.open_workflow(path)
        current = self.settings.value("session/current_tab")
        if current is not None and str(current).isdigit() and int(str(current)) < self.tabs.count():
            self.tabs.setCurrentIndex(int(str(current)))

    def fit_to_screen(self, room: QRect | None = None) -> None:
        """The first start's size: 1440x900, or the whole of a smaller screen.

        A window larger than a 1366x768 screen has its status bar and the run
        panels' lower edge off the screen, with no window manager to fix it.
        ``room``: the screen's available area (default: the window's screen's).
        """
        if room is None:
            screen = self.screen() or QGuiApplication.primaryScreen()
            if screen is None:
                self.resize(DEFAULT_SIZE[0], DEFAULT_SIZE[1])
                return
            room = screen.availableGeometry()
        if room.width() >= DEFAULT_SIZE[0] + 80 and room.height() >= DEFAULT_SIZE[1] + 80:
            self.resize(DEFAULT_SIZE[0], DEFAULT_SIZE[1])
            self.move(room.center() - self.rect().center())
            return
        frame = self.frameGeometry().size() - self.geometry().size()  # the title bar, if any
        self.resize(room.width() - frame.width(), room.height() - frame.height())
        self.move(room.topLeft())
        self.setWindowState(self.windowState() | Qt.WindowState.WindowMaximized)

    def default_split(self) -> None:
        """The workflows pane's first width, for this window's width."""
        left = workflows_pane_width(self.width())
        self.splitter.setSizes([left, self.width() - left])

    def save_state(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self.settings.setValue(
            "session/open_files", [str(e.path) for e in self.editors() if e.path is not None]
        )
        self.settings.setValue("session/current_tab", self.tabs.currentIndex())
        editor = self.current_editor()
        if editor is not None:
            self.settings.setValue("editor/splitter", editor.splitter.saveState())
        self.settings.sync()

    def request_quit(self) -> None:
        """File > Quit: quit Deskpilot (window and tray), not only hide this window."""
        if self.quit_handler is not None:
            self.quit_handler()
        else:
            self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        for editor in self.editors():
            if editor.is_dirty():
                self.tabs.setCurrentWidget(editor)
                answer = self.prompts.save_discard_cancel(
                    "Unsaved changes", f"Save the changes to '{editor.document.name}'?"
                )
                if answer == "cancel" or (answer == "save" and not self._save(editor)):
                    event.ignore()
                    return
        self.save_state()
        for editor in self.editors():
            editor.close_editor()
        event.accept()
