"""The runs views: live progress on the editor's canvas, history, run detail and trends.

Everything here reads runs through the supervisor's API (``app.supervisor_link``);
``records`` is the Qt-free shape both the live view and the run detail draw.
"""
