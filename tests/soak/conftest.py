"""The soak reuses the supervisor integration fixtures (a daemon process, the test plugin)."""

from tests.integration.supervisor.conftest import daemon_process, plugin_path

__all__ = ["daemon_process", "plugin_path"]
