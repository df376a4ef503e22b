"""Deskpilot's Qt GUI: the main window, the workflow editor and (later) the runs views.

Qt stays inside this package: ``automation/`` and ``supervisor/`` import
without PySide6.  The GUI reads and writes workflow files through
``automation`` (model, loader, validation, registry) and talks to the
supervisor only through ``app.connection.SupervisorConnection``, never to its
database.
"""
