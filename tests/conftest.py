"""Shared fixtures live in tests/helpers/; this file only wires them in."""

pytest_plugins = [
    "tests.helpers.common",
    "tests.helpers.http_server",
    "tests.helpers.smtp",
    "tests.helpers.keyring_session",
    "tests.helpers.postgres",
    "tests.helpers.storage",
    "tests.helpers.daemon",
    "tests.helpers.xvfb",
    "tests.helpers.a11y",
    "tests.helpers.session_bus",
]
