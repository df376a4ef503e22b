"""``deskpilot secrets`` against a real gnome-keyring: in-process and as real subprocesses."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
import uuid

import pytest
from click.testing import CliRunner

from automation.secrets import KeyringSecretStore
from supervisor.cli.secrets_cmd import secrets_group

pytestmark = pytest.mark.keyring

CLI = [
    sys.executable,
    "-c",
    "from supervisor.cli.secrets_cmd import secrets_group; secrets_group()",
]


def _canary() -> str:
    return f"canary-{uuid.uuid4().hex}"


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text


# -- CliRunner ----------------------------------------------------------------------------


def test_set_reads_the_value_from_stdin_and_drops_one_newline(
    secret_store: KeyringSecretStore,
) -> None:
    canary = _canary()

    result = CliRunner().invoke(secrets_group, ["set", "api_token"], input=canary + "\n")

    assert result.exit_code == 0, result.output
    assert secret_store.get("api_token") == canary
    assert canary not in result.output
    assert "stored secret 'api_token'" in result.stderr


@pytest.mark.parametrize(
    ("stdin", "stored"),
    [
        ("v4lue-long\r\n", "v4lue-long"),
        ("v4lue-long\n\n", "v4lue-long\n"),
        ("v4lue-long", "v4lue-long"),
        (" v4lue-long ", " v4lue-long "),
    ],
    ids=["crlf", "two-newlines", "no-newline", "spaces-kept"],
)
def test_only_one_trailing_newline_is_dropped(
    secret_store: KeyringSecretStore, stdin: str, stored: str
) -> None:
    result = CliRunner().invoke(secrets_group, ["set", "token"], input=stdin)

    assert result.exit_code == 0, result.output
    assert secret_store.get("token") == stored


def test_value_is_never_accepted_as_an_argument(secret_store: KeyringSecretStore) -> None:
    result = CliRunner().invoke(secrets_group, ["set", "token", "on-the-command-line"], input="x")

    assert result.exit_code == 2
    assert secret_store.get("token") is None


@pytest.mark.parametrize("stdin", ["", "\n"], ids=["empty", "newline-only"])
def test_empty_value_is_refused(secret_store: KeyringSecretStore, stdin: str) -> None:
    result = CliRunner().invoke(secrets_group, ["set", "token"], input=stdin)

    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: refusing to store an empty value for secret 'token'"
    assert secret_store.get("token") is None
    assert secret_store.names() == []


@pytest.mark.parametrize("value", ["a", "1234567"], ids=["one-char", "seven-chars"])
def test_a_value_too_short_to_mask_is_refused_with_the_reason(
    secret_store: KeyringSecretStore, value: str
) -> None:
    result = CliRunner().invoke(secrets_group, ["set", "token"], input=value + "\n")

    assert result.exit_code == 2
    message = result.stderr.strip()
    assert message.startswith(
        "Error: refusing to store secret 'token': the value is shorter than 8"
    )
    assert "cannot be masked safely" in message
    assert secret_store.get("token") is None
    assert secret_store.names() == []


def test_invalid_name_is_one_line_with_exit_code_2(secret_store: KeyringSecretStore) -> None:
    result = CliRunner().invoke(secrets_group, ["set", "api-token"], input="value")

    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "Error: invalid secret name 'api-token': use letters, digits and '_', "
        "starting with a letter"
    ]
    assert secret_store.names() == []


def test_list_prints_names_only(secret_store: KeyringSecretStore) -> None:
    secret_store.set("zeta", "value-of-zeta")
    secret_store.set("alpha", "value-of-alpha")

    plain = CliRunner().invoke(secrets_group, ["list"])
    as_json = CliRunner().invoke(secrets_group, ["list", "--json"])

    assert plain.exit_code == 0 and as_json.exit_code == 0
    assert plain.stdout == "alpha\nzeta\n"
    assert json.loads(as_json.stdout) == ["alpha", "zeta"]
    assert "value-of" not in plain.output + as_json.output


def test_list_when_empty(secret_store: KeyringSecretStore) -> None:
    plain = CliRunner().invoke(secrets_group, ["list"])
    as_json = CliRunner().invoke(secrets_group, ["list", "--json"])

    assert plain.exit_code == 0
    assert plain.stdout == ""
    assert "no secrets stored" in plain.stderr
    assert json.loads(as_json.stdout) == []


def test_delete_then_delete_again(secret_store: KeyringSecretStore) -> None:
    secret_store.set("token", "to-be-deleted")

    first = CliRunner().invoke(secrets_group, ["delete", "token"])
    second = CliRunner().invoke(secrets_group, ["delete", "token"])

    assert first.exit_code == 0
    assert secret_store.get("token") is None
    assert secret_store.names() == []
    assert second.exit_code == 1
    assert second.stderr.strip() == "Error: secret 'token' is not in the keyring; nothing deleted"


def test_unreachable_keyring_is_one_line_with_exit_code_1(secret_store: KeyringSecretStore) -> None:
    result = CliRunner().invoke(
        secrets_group, ["list"], env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    )

    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "no keyring backend is available" in lines[0]
    _no_traceback(result.output)


# -- real subprocesses -------------------------------------------------------------------------


def _run(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_set_list_delete_as_subprocesses_never_print_the_value(
    secret_store: KeyringSecretStore, real_keyring
) -> None:
    env = {**real_keyring.env, "DESKPILOT_KEYRING_SERVICE": secret_store.service}
    canary = _canary()
    runs = []

    runs.append(stored := _run(["set", "smtp_password"], env, stdin=canary + "\n"))
    assert stored.returncode == 0, stored.stderr
    assert secret_store.get("smtp_password") == canary

    runs.append(listed := _run(["list"], env))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == ["smtp_password"]

    runs.append(listed_json := _run(["list", "--json"], env))
    assert json.loads(listed_json.stdout) == ["smtp_password"]

    runs.append(deleted := _run(["delete", "smtp_password"], env))
    assert deleted.returncode == 0, deleted.stderr
    assert secret_store.get("smtp_password") is None

    runs.append(missing := _run(["delete", "smtp_password"], env))
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        "Error: secret 'smtp_password' is not in the keyring; nothing deleted"
    )

    for run in runs:
        assert canary not in run.stdout
        assert canary not in run.stderr
        _no_traceback(run.stderr)


def test_subprocess_without_a_keyring_fails_cleanly(real_keyring) -> None:
    env = {**real_keyring.env, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}

    result = _run(["set", "token"], env, stdin="s3cret-value\n")

    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no keyring backend is available" in lines[0]
    assert "s3cret-value" not in result.stderr


def _read_until(fd: int, marker: bytes, deadline: float) -> bytes:
    """Read from a pty master until ``marker`` shows up; EOF or the deadline fails."""
    seen = b""
    while marker not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{marker!r} not seen; terminal showed {seen!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"terminal closed before {marker!r}; it showed {seen!r}")
            seen += chunk
    return seen


def test_on_a_terminal_the_value_is_prompted_twice_and_not_echoed(
    secret_store: KeyringSecretStore, real_keyring
) -> None:
    env = {**real_keyring.env, "DESKPILOT_KEYRING_SERVICE": secret_store.service}
    canary = _canary()
    master, slave = pty.openpty()
    process: subprocess.Popen[bytes] | None = None
    try:
        # a new session: no controlling terminal, so the prompt reads the pty on stdin
        process = subprocess.Popen(
            [*CLI, "set", "tty_token"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        deadline = time.monotonic() + 30
        shown = _read_until(master, b"Value for secret 'tty_token': ", deadline)
        os.write(master, canary.encode() + b"\r")
        shown += _read_until(master, b"Repeat for confirmation: ", deadline)
        os.write(master, canary.encode() + b"\r")
        shown += _read_until(master, b"stored secret 'tty_token'", deadline)
        assert process.wait(timeout=30) == 0
    finally:
        os.close(master)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    assert canary.encode() not in shown
    assert secret_store.get("tty_token") == canary


# -- several processes at once --------------------------------------------------------------

READER = """\
import sys
from automation.secrets import KeyringSecretStore
store = KeyringSecretStore(service=sys.argv[1])
for i in range(int(sys.argv[2])):
    if store.get("api_token") != sys.argv[3]:
        sys.exit(f"read {i} came back wrong")
"""


def test_processes_reading_secrets_at_once_all_get_them(
    secret_store: KeyringSecretStore, real_keyring
) -> None:
    """Runs in parallel workers read secrets at the same moment.  Each read opens a new
    D-Bus connection; gnome-keyring used to answer some with "no such object" (and
    secretstorage then failed with "Prompt dismissed"), a few per 1,600 reads."""
    canary = _canary()
    secret_store.set("api_token", canary)
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, secret_store.service, "300", canary],
            env=real_keyring.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [reader.communicate(timeout=120) for reader in readers]

    failures = [
        err[-1500:] for reader, (_, err) in zip(readers, results, strict=True) if reader.returncode
    ]
    assert failures == []
    assert real_keyring.daemons_gone() == ""
