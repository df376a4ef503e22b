"""Secrets live in the operating system's keyring, never in workflow files or the database.

Workflows name secrets (``{{ secrets.mail_password }}``); the values are read
from the keyring when a run needs them and handed to the run's ``Redactor``.
``SecretStore`` is the small contract the engine, the validator and the CLI
use; ``KeyringSecretStore`` is the real one.

The ``keyring`` library cannot list what it holds, so the store keeps an index
of secret NAMES (never values) in the keyring itself, under the reserved user
name ``__deskpilot_index__`` of the same service.  Secret names must start with
a letter, so no secret can collide with that entry.  The index is advisory: a
secret deleted with another keyring tool disappears from ``get`` at once and
from ``names`` at the next ``delete`` of that name.

Every failure of the keyring (no backend, locked collection, D-Bus down) comes
out as a ``SecretError`` whose message says what to do about it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from automation.errors import SecretError

# keyring is imported where it is used: with importlib_metadata and its backends it is
# 3 MB that a supervisor which never touches a secret should not carry.
if TYPE_CHECKING:
    import keyring.backend

log = logging.getLogger(__name__)

#: Service name used when ``DESKPILOT_KEYRING_SERVICE`` is not set.
DEFAULT_SERVICE = "deskpilot"
#: Environment variable that picks the keyring service (tests isolate themselves with it).
SERVICE_ENV = "DESKPILOT_KEYRING_SERVICE"
#: The keyring entry that holds the JSON list of secret names of a service.
INDEX_ENTRY = "__deskpilot_index__"
#: Secret names are template identifiers (``{{ secrets.name }}``); the sandboxed
#: template engine hides attributes that start with '_', so names start with a letter.
SECRET_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
_SECRET_NAME = re.compile(SECRET_NAME_PATTERN)

_NO_BACKEND_HINT = "start gnome-keyring / a Secret Service provider, or set PYTHON_KEYRING_BACKEND"


@runtime_checkable
class SecretStore(Protocol):
    """Where secret values are kept, by name."""

    def get(self, name: str) -> str | None:
        """The value, or None when no secret has that name."""
        ...

    def set(self, name: str, value: str) -> None:
        """Store ``value`` under ``name``, replacing any previous value."""
        ...

    def delete(self, name: str) -> bool:
        """Remove the secret; False when there was none."""
        ...

    def names(self) -> list[str]:
        """The names of the stored secrets, sorted; never their values."""
        ...


def validate_secret_name(name: str) -> str:
    """Reject names a workflow template could not refer to."""
    if not isinstance(name, str) or not _SECRET_NAME.match(name):
        raise SecretError(
            f"invalid secret name {name!r}: use letters, digits and '_', starting with a letter"
        )
    return name


#: The shortest value ``deskpilot secrets set`` (and the GUI) will store; see ``value_problem``.
MIN_SECRET_VALUE_LENGTH = 8


def value_problem(name: str, value: str) -> str | None:
    """Why ``value`` should not be stored as secret ``name``, or None when it may.

    Deskpilot masks a secret wherever it could surface (logs, history, events,
    evidence) in every form it takes: plain, URL- and JSON-encoded, base64 and
    hex.  A short value cannot be masked safely: it turns up by chance in
    ordinary text, where masking it hides unrelated words and shows where the
    secret is; and inside a longer base64 text only about four characters in
    three depend on it alone, too few to recognise it.  So values shorter than
    ``MIN_SECRET_VALUE_LENGTH`` are refused where they are entered.
    """
    if not value:
        return f"refusing to store an empty value for secret '{name}'"
    if len(value) < MIN_SECRET_VALUE_LENGTH:
        return (
            f"refusing to store secret '{name}': the value is shorter than "
            f"{MIN_SECRET_VALUE_LENGTH} characters. Deskpilot masks secrets wherever they "
            "could appear (logs, history, evidence); a value this short also turns up in "
            "ordinary text and in encoded data by chance, so it cannot be masked safely. "
            "Use a longer value"
        )
    return None


def missing_secret_error(name: str) -> SecretError:
    """The one message users see when a workflow needs a secret that is not stored."""
    return SecretError(
        f"secret '{name}' is not in the keyring; add it with: deskpilot secrets set {name}"
    )


def require_secret(store: SecretStore, name: str) -> str:
    """The value of ``name``; a missing secret is an error that says how to add it."""
    value = store.get(name)
    if value is None:
        raise missing_secret_error(name)
    return value


def _optional_exceptions(module: str, *names: str) -> tuple[type[BaseException], ...]:
    # The D-Bus libraries are only present where the SecretService backend is;
    # their errors escape keyring untranslated, so catch them when they exist.
    try:
        loaded = importlib.import_module(module)
    except ImportError:
        return ()
    found = (getattr(loaded, name, None) for name in names)
    return tuple(cls for cls in found if isinstance(cls, type) and issubclass(cls, BaseException))


@functools.cache
def _dbus_errors() -> tuple[type[BaseException], ...]:
    # Looked up on first use, not at import: secretstorage brings cryptography, 7 MB
    # that a supervisor which never touches a secret should not carry.
    return (
        *_optional_exceptions("secretstorage.exceptions", "SecretStorageException"),
        *_optional_exceptions("jeepney.wrappers", "DBusErrorResponse"),
        *_optional_exceptions("jeepney", "DBusErrorResponse"),
    )


def _translate(error: BaseException, action: str) -> SecretError:
    """Turn whatever the keyring raised into a message that says what to do."""
    import keyring.errors

    detail = str(error) or type(error).__name__
    if isinstance(error, keyring.errors.NoKeyringError):
        return SecretError(f"cannot {action}: no keyring backend is available: {_NO_BACKEND_HINT}")
    if isinstance(error, keyring.errors.KeyringLocked):
        return SecretError(
            f"cannot {action}: the keyring is locked ({detail}); unlock it in your desktop "
            "session (for example with Seahorse) and try again"
        )
    if isinstance(error, keyring.errors.InitError):
        return SecretError(
            f"cannot {action}: the keyring could not be opened ({detail}); "
            "check that gnome-keyring / a Secret Service provider is running and unlocked"
        )
    if isinstance(error, (*_dbus_errors(), OSError)):
        # the D-Bus client raises OSError itself when the bus socket is gone
        return SecretError(
            f"cannot {action}: the Secret Service is not reachable over D-Bus "
            f"({type(error).__name__}: {detail}); {_NO_BACKEND_HINT}, "
            "and check DBUS_SESSION_BUS_ADDRESS"
        )
    return SecretError(
        f"cannot {action}: the keyring failed ({type(error).__name__}: {detail}); "
        "check that the keyring is running and unlocked, or set PYTHON_KEYRING_BACKEND"
    )


def _unusable_backend(error: BaseException) -> SecretError:
    """Choosing the backend failed: say which one was asked for, if any."""
    detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    chosen = os.environ.get("PYTHON_KEYRING_BACKEND")
    if chosen:
        return SecretError(
            f"cannot open the keyring: the backend {chosen!r} named by PYTHON_KEYRING_BACKEND "
            f"is not usable here ({detail}); {_NO_BACKEND_HINT}"
        )
    return SecretError(f"cannot open the keyring: no usable backend ({detail}); {_NO_BACKEND_HINT}")


@functools.cache
def _operation_errors() -> tuple[type[BaseException], ...]:
    """What a keyring operation raises when the keyring, not our code, is at fault."""
    import keyring.errors

    return (keyring.errors.KeyringError, RuntimeError, OSError, *_dbus_errors())


@functools.cache
def _load_errors() -> tuple[type[BaseException], ...]:
    """Loading a backend named by PYTHON_KEYRING_BACKEND can also fail to import it."""
    return (*_operation_errors(), ImportError, AttributeError)


@functools.cache
def _alias_first_secret_service() -> type[Any]:
    """keyring's Secret Service backend, opening the default collection by a method call.

    keyring opens a D-Bus connection per operation, and secretstorage's first
    message on it reads a property of ``aliases/default``.  gnome-keyring
    registers a connection as a client only when it handles a Secret Service
    method call; a property read that comes first races that registration
    (gnome-keyring issue 195).  Lost, the read says "no such object", and
    secretstorage then tries to create a new default collection, which fails
    with "Prompt dismissed"; or gnome-keyring aborts altogether.  With four
    processes reading secrets at once it happened a few times per 1,600
    reads.  ``ReadAlias`` first (a method call) registers the client before
    any property is read.
    """
    import secretstorage
    from keyring.backends import SecretService
    from keyring.errors import InitError, KeyringLocked

    class AliasFirstSecretService(SecretService.Keyring):
        def get_preferred_collection(self) -> Any:
            if hasattr(self, "preferred_collection"):
                return super().get_preferred_collection()  # type: ignore[no-untyped-call]
            bus = secretstorage.dbus_init()
            try:
                try:
                    collection = secretstorage.get_collection_by_alias(bus, "default")
                except secretstorage.exceptions.ItemNotFoundException:
                    # really none: secretstorage creates it (gnome-keyring prompts)
                    collection = secretstorage.get_default_collection(bus)
                if collection.is_locked():
                    collection.unlock()
                    if collection.is_locked():  # the user dismissed the prompt
                        raise KeyringLocked("Failed to unlock the collection!")
            except secretstorage.exceptions.SecretStorageException as exc:
                bus.close()
                raise InitError(f"Failed to create the collection: {exc}.") from exc
            except BaseException:
                bus.close()
                raise
            return collection

    return AliasFirstSecretService


def hardened_backend(backend: keyring.backend.KeyringBackend) -> keyring.backend.KeyringBackend:
    """``backend``, or for keyring's Secret Service backend one that does not race
    gnome-keyring (see ``_alias_first_secret_service``); other backends as they are."""
    from keyring.backends import SecretService

    if type(backend) is not SecretService.Keyring:
        return backend
    hardened: keyring.backend.KeyringBackend = _alias_first_secret_service()()
    hardened.__dict__.update(backend.__dict__)  # its scheme, its preferred collection
    return hardened


@contextlib.contextmanager
def _keyring_errors(action: str) -> Iterator[None]:
    try:
        yield
    except SecretError:
        raise
    except _operation_errors() as error:
        log.debug("keyring failure while trying to %s", action, exc_info=True)
        raise _translate(error, action) from error


class KeyringSecretStore:
    """Secrets in the OS keyring under one service name (default ``deskpilot``).

    ``keyring_backend`` pins a backend instance; without one the backend is
    chosen on first use the way ``keyring`` itself chooses it, honouring
    ``PYTHON_KEYRING_BACKEND`` as it is at that moment (so a process that sets
    the variable after importing ``keyring`` still gets what it asked for).
    """

    def __init__(
        self,
        service: str = DEFAULT_SERVICE,
        keyring_backend: keyring.backend.KeyringBackend | None = None,
    ) -> None:
        if not service:
            raise SecretError("the keyring service name must not be empty")
        self.service = service
        self._backend = keyring_backend
        # names() / set() / delete() read-modify-write the index entry
        self._index_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KeyringSecretStore(service={self.service!r})"

    # -- backend -----------------------------------------------------------------
    def _keyring(self) -> keyring.backend.KeyringBackend:
        import keyring
        import keyring.backends.null
        import keyring.core

        if self._backend is None:
            try:
                self._backend = keyring.core.load_env() or keyring.get_keyring()
            except _load_errors() as error:
                # load_keyring() raises ImportError / AttributeError / RuntimeError or
                # the backend's own connection error when the named backend cannot run
                log.debug("no usable keyring backend", exc_info=True)
                raise _unusable_backend(error) from error
        self._backend = hardened_backend(self._backend)
        if isinstance(self._backend, keyring.backends.null.Keyring):
            raise SecretError(
                f"the keyring is disabled (the 'null' backend is configured): {_NO_BACKEND_HINT}"
            )
        return self._backend

    # -- index -------------------------------------------------------------------
    def _read_index(self) -> list[str]:
        with _keyring_errors("read the list of secrets from the keyring"):
            raw = self._keyring().get_password(self.service, INDEX_ENTRY)
        if raw is None:
            return []
        try:
            names = json.loads(raw)
        except json.JSONDecodeError:
            names = None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            # Only names live there; starting afresh loses nothing secret, and
            # the next set() writes a good index.
            log.warning(
                "the secret index of keyring service %r is damaged; ignoring it", self.service
            )
            return []
        return sorted(set(names))

    def _write_index(self, names: list[str]) -> None:
        with _keyring_errors("update the list of secrets in the keyring"):
            self._keyring().set_password(self.service, INDEX_ENTRY, json.dumps(sorted(set(names))))

    # -- SecretStore ---------------------------------------------------------------
    def get(self, name: str) -> str | None:
        validate_secret_name(name)
        with _keyring_errors(f"read secret '{name}' from the keyring"):
            return self._keyring().get_password(self.service, name)

    def set(self, name: str, value: str) -> None:
        validate_secret_name(name)
        if not isinstance(value, str):
            raise SecretError(f"the value of secret '{name}' must be text")
        with self._index_lock:
            with _keyring_errors(f"store secret '{name}' in the keyring"):
                self._keyring().set_password(self.service, name, value)
            names = self._read_index()
            if name not in names:
                self._write_index([*names, name])
        log.info("stored secret %r in keyring service %r", name, self.service)

    def delete(self, name: str) -> bool:
        import keyring.errors

        validate_secret_name(name)
        with self._index_lock:
            backend = self._keyring()
            with _keyring_errors(f"delete secret '{name}' from the keyring"):
                existed = backend.get_password(self.service, name) is not None
                if existed:
                    try:
                        backend.delete_password(self.service, name)
                    except keyring.errors.PasswordDeleteError:
                        existed = False  # deleted by someone else in between
            names = self._read_index()
            if name in names:
                self._write_index([n for n in names if n != name])
        if existed:
            log.info("deleted secret %r from keyring service %r", name, self.service)
        return existed

    def names(self) -> list[str]:
        with self._index_lock:
            return self._read_index()


class MemorySecretStore:
    """Secrets in a dict, gone when the process ends.

    It exists because some unit tests of other components (the engine, the
    validator, blocks) need a ``SecretStore`` but no keyring; the real backend
    is exercised by the integration tests against a real gnome-keyring.
    """

    def __init__(self, secrets: dict[str, str] | None = None) -> None:
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()
        for name, value in (secrets or {}).items():
            self.set(name, value)

    def get(self, name: str) -> str | None:
        validate_secret_name(name)
        with self._lock:
            return self._values.get(name)

    def set(self, name: str, value: str) -> None:
        validate_secret_name(name)
        if not isinstance(value, str):
            raise SecretError(f"the value of secret '{name}' must be text")
        with self._lock:
            self._values[name] = value

    def delete(self, name: str) -> bool:
        validate_secret_name(name)
        with self._lock:
            return self._values.pop(name, None) is not None

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._values)


def secret_store_from_env() -> SecretStore:
    """The store the CLI and the supervisor use: service from ``DESKPILOT_KEYRING_SERVICE``."""
    service = os.environ.get(SERVICE_ENV, "").strip() or DEFAULT_SERVICE
    return KeyringSecretStore(service=service)
