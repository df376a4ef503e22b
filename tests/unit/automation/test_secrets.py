"""Secret stores: the keyring one against a real gnome-keyring, and the in-memory one."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import keyring.backends.fail
import keyring.backends.null
import pytest
from keyring.backends.SecretService import Keyring as SecretServiceKeyring

from automation.errors import SecretError
from automation.secrets import (
    DEFAULT_SERVICE,
    INDEX_ENTRY,
    SERVICE_ENV,
    KeyringSecretStore,
    MemorySecretStore,
    SecretStore,
    hardened_backend,
    require_secret,
    secret_store_from_env,
    validate_secret_name,
)
from tests.helpers.keyring_session import RealKeyring, require_keyring_programs

BAD_NAMES = ["", "1password", "_private", INDEX_ENTRY, "api-key", "api key", "clé", "a.b"]
GOOD_NAMES = ["a", "API_KEY", "mail_password2", "x_"]


# -- the real keyring ------------------------------------------------------------------


@pytest.mark.keyring
def test_set_get_round_trip(secret_store: KeyringSecretStore) -> None:
    secret_store.set("api_token", "tok-12345")

    assert secret_store.get("api_token") == "tok-12345"
    assert secret_store.get("other") is None


@pytest.mark.keyring
def test_values_live_in_the_secret_service_not_in_the_process(
    secret_store: KeyringSecretStore, real_keyring
) -> None:
    secret_store.set("shared", "seen-by-another-process")
    script = (
        "import keyring, sys; "
        f"sys.stdout.write(keyring.get_password({secret_store.service!r}, 'shared'))"
    )

    result = subprocess.run(
        [sys.executable, "-c", script],
        env=real_keyring.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    assert result.stdout == "seen-by-another-process"


@pytest.mark.keyring
def test_names_are_listed_sorted_and_the_index_holds_no_values(
    secret_store: KeyringSecretStore, real_keyring
) -> None:
    secret_store.set("zeta", "value-zeta-1")
    secret_store.set("alpha", "value-alpha-1")
    secret_store.set("mid", "value-mid-1")

    assert secret_store.names() == ["alpha", "mid", "zeta"]
    index = real_keyring.backend().get_password(secret_store.service, INDEX_ENTRY)
    assert json.loads(index) == ["alpha", "mid", "zeta"]
    assert "value-" not in index


@pytest.mark.keyring
def test_overwrite_replaces_the_value_and_keeps_one_name(secret_store: KeyringSecretStore) -> None:
    secret_store.set("token", "first-value")
    secret_store.set("token", "second-value")

    assert secret_store.get("token") == "second-value"
    assert secret_store.names() == ["token"]


@pytest.mark.keyring
def test_delete_removes_value_and_name(secret_store: KeyringSecretStore) -> None:
    secret_store.set("gone", "soon-gone")
    secret_store.set("kept", "still-here")

    assert secret_store.delete("gone") is True

    assert secret_store.get("gone") is None
    assert secret_store.names() == ["kept"]
    assert secret_store.delete("gone") is False
    assert secret_store.get("kept") == "still-here"


@pytest.mark.keyring
@pytest.mark.parametrize(
    "value",
    [
        "pässwörd ✓ 🔑 密码",
        "line one\nline two\n",
        "  spaced  ",
        'quote " and \\ backslash',
        "x" * 4000,
    ],
    ids=["unicode", "multiline", "spaces", "escapes", "long"],
)
def test_values_come_back_exactly(secret_store: KeyringSecretStore, value: str) -> None:
    secret_store.set("value", value)

    assert secret_store.get("value") == value


@pytest.mark.keyring
def test_services_do_not_share_secrets(secret_store: KeyringSecretStore, real_keyring) -> None:
    other = KeyringSecretStore(service=secret_store.service + "-other")
    secret_store.set("token", "mine")

    assert other.get("token") is None
    assert other.names() == []
    other.set("token", "theirs")
    try:
        assert secret_store.get("token") == "mine"
    finally:
        other.delete("token")
        real_keyring.backend().delete_password(other.service, INDEX_ENTRY)


@pytest.mark.keyring
def test_store_without_a_pinned_backend_uses_the_environment(
    secret_store: KeyringSecretStore,
) -> None:
    secret_store.set("token", "via-env")

    from_env = secret_store_from_env()

    assert isinstance(from_env, KeyringSecretStore)
    assert from_env.service == secret_store.service
    assert from_env.get("token") == "via-env"


def test_default_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SERVICE_ENV, raising=False)
    store = secret_store_from_env()

    assert isinstance(store, KeyringSecretStore)
    assert store.service == DEFAULT_SERVICE == "deskpilot"


@pytest.mark.keyring
def test_missing_secret_error_says_how_to_add_it(secret_store: KeyringSecretStore) -> None:
    with pytest.raises(SecretError) as caught:
        require_secret(secret_store, "mail_password")

    assert str(caught.value) == (
        "secret 'mail_password' is not in the keyring; add it with: deskpilot secrets set mail_password"
    )


@pytest.mark.keyring
def test_require_secret_returns_a_stored_value(secret_store: KeyringSecretStore) -> None:
    secret_store.set("mail_password", "hunter22")

    assert require_secret(secret_store, "mail_password") == "hunter22"


@pytest.mark.keyring
@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names_are_refused_before_the_keyring_is_touched(
    secret_store: KeyringSecretStore, name: str
) -> None:
    with pytest.raises(SecretError, match="invalid secret name"):
        secret_store.set(name, "value")
    with pytest.raises(SecretError, match="starting with a letter"):
        secret_store.get(name)
    with pytest.raises(SecretError, match="invalid secret name"):
        secret_store.delete(name)

    assert secret_store.names() == []


@pytest.mark.keyring
def test_a_damaged_index_is_ignored_and_rewritten(
    secret_store: KeyringSecretStore, real_keyring, caplog: pytest.LogCaptureFixture
) -> None:
    real_keyring.backend().set_password(secret_store.service, INDEX_ENTRY, "{not json")

    with caplog.at_level(logging.WARNING, logger="automation.secrets"):
        assert secret_store.names() == []
    assert "damaged" in caplog.text

    secret_store.set("token", "abc123")
    assert secret_store.names() == ["token"]


# -- no usable keyring ---------------------------------------------------------------------

_PROBE = """
import sys
from automation.errors import SecretError
from automation.secrets import KeyringSecretStore
try:
    KeyringSecretStore().get("token")
except SecretError as error:
    sys.stderr.write(str(error))
    sys.exit(3)
sys.exit(0)
"""


def test_no_backend_in_a_fresh_process_is_a_secret_error() -> None:
    env = dict(os.environ)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"

    result = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=30
    )

    assert result.returncode == 3, result.stderr
    assert "no keyring backend is available" in result.stderr
    assert "start gnome-keyring / a Secret Service provider, or set PYTHON_KEYRING_BACKEND" in (
        result.stderr
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get("token"),
        lambda s: s.set("token", "value"),
        lambda s: s.delete("token"),
        lambda s: s.names(),
    ],
    ids=["get", "set", "delete", "names"],
)
def test_every_operation_on_the_failing_backend_raises_secret_error(call) -> None:
    store = KeyringSecretStore(
        service="deskpilot-unused", keyring_backend=keyring.backends.fail.Keyring()
    )

    with pytest.raises(SecretError, match="no keyring backend is available"):
        call(store)


def test_unreachable_secret_service_is_a_secret_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    store = KeyringSecretStore(service="deskpilot-unused", keyring_backend=SecretServiceKeyring())

    with pytest.raises(SecretError, match="not reachable over D-Bus") as caught:
        store.get("token")

    assert "DBUS_SESSION_BUS_ADDRESS" in str(caught.value)


def test_unusable_backend_named_in_the_environment_is_a_secret_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.SecretService.Keyring")

    with pytest.raises(SecretError, match="PYTHON_KEYRING_BACKEND") as caught:
        KeyringSecretStore(service="deskpilot-unused").names()

    assert "keyring.backends.SecretService.Keyring" in str(caught.value)


def test_disabled_keyring_is_a_secret_error_not_a_silent_no_op() -> None:
    store = KeyringSecretStore(keyring_backend=keyring.backends.null.Keyring())

    with pytest.raises(SecretError, match="disabled"):
        store.set("token", "value")


# -- names and the in-memory store -------------------------------------------------------------


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_valid_names(name: str) -> None:
    assert validate_secret_name(name) == name


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names(name: str) -> None:
    with pytest.raises(SecretError, match="invalid secret name"):
        validate_secret_name(name)


def test_memory_store_behaves_like_the_contract() -> None:
    store = MemorySecretStore({"b_token": "two", "a_token": "one"})

    assert isinstance(store, SecretStore)
    assert store.names() == ["a_token", "b_token"]
    assert store.get("a_token") == "one"
    store.set("a_token", "uno")
    assert store.get("a_token") == "uno"
    assert store.delete("a_token") is True
    assert store.delete("a_token") is False
    assert store.get("a_token") is None
    assert store.names() == ["b_token"]
    with pytest.raises(SecretError, match="invalid secret name"):
        store.set("9lives", "x")
    with pytest.raises(SecretError, match="deskpilot secrets set a_token"):
        require_secret(store, "a_token")


def test_only_keyrings_secret_service_backend_is_replaced() -> None:
    null = keyring.backends.null.Keyring()
    assert hardened_backend(null) is null

    plain = SecretServiceKeyring()
    plain.preferred_collection = "/org/freedesktop/secrets/collection/work"
    hardened = hardened_backend(plain)

    assert isinstance(hardened, SecretServiceKeyring) and hardened is not plain
    assert hardened.preferred_collection == plain.preferred_collection
    assert hardened_backend(hardened) is hardened


def test_keyring_store_satisfies_the_protocol() -> None:
    assert isinstance(KeyringSecretStore(), SecretStore)


# -- the keyring fixture itself ----------------------------------------------------------------


@pytest.mark.keyring
def test_the_daemons_run_without_a_display_and_the_test_process_uses_them(real_keyring) -> None:
    for name, pid in real_keyring.daemon_pids.items():
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        variables = {entry.split(b"=", 1)[0] for entry in environ}
        assert b"DISPLAY" not in variables, f"{name} could pop up a prompt"
        assert b"DBUS_SESSION_BUS_ADDRESS" in variables or name == "dbus-daemon"
    assert os.environ["DBUS_SESSION_BUS_ADDRESS"] == real_keyring.bus_address
    assert os.environ["PYTHON_KEYRING_BACKEND"] == "keyring.backends.SecretService.Keyring"
    assert real_keyring.env["DBUS_SESSION_BUS_ADDRESS"] == real_keyring.bus_address
    assert real_keyring.daemons_gone() == ""


def test_a_keyring_daemon_that_exited_is_named_with_its_output(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    log = tmp_path / "gnome-keyring.log"
    log.write_text("** CRITICAL **: something went wrong\n", encoding="utf-8")
    keyring_info = RealKeyring(
        bus_address="unix:path=/nonexistent",
        env={},
        daemon_pids={"dbus-daemon": os.getpid(), "gnome-keyring-daemon": child.pid},
        log_path=log,
    )

    gone = keyring_info.daemons_gone()

    assert gone.startswith("gnome-keyring-daemon exited")
    assert "dbus-daemon" not in gone
    assert "something went wrong" in gone


def test_missing_daemons_fail_with_the_packages_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(pytest.fail.Exception, match="apt-get install -y dbus gnome-keyring"):
        require_keyring_programs()
