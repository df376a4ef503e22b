"""Which supervisor a client talks to: this machine's, or another machine's API by URL.

By default the CLI and the window talk to this machine's supervisor (its
Unix socket or loopback port, ``supervisor.api.endpoint``).  A client can be
pointed at another machine's API instead, first match wins:

1. ``deskpilot --api URL`` / ``--machine HOST`` (the CLI sets the variable below);
2. ``DESKPILOT_REMOTE=URL`` (``local`` means this machine, whatever is saved);
3. the saved connection, ``<config_dir>/connection.json`` (``deskpilot connection
   set``, or the window's Connect), which both the CLI and the window read.

The token for a remote API is never saved in that file: it comes from
``DESKPILOT_API_TOKEN`` (the same variable the serving machine reads, so one
fleet token works both ways), else from the OS keyring, where ``deskpilot
connection set`` and the window keep it per URL.  Certificates are checked
against the system's CAs, or against ``DESKPILOT_API_CA`` / the saved CA file,
which may be a private CA or the server's own self-signed certificate (that
pins it), or, instead of any CA, against a fingerprint pin
(``DESKPILOT_API_PIN`` / ``--pin`` / the saved pin: ``supervisor.pinning``).
A token is never sent unencrypted beyond loopback: an ``http://`` URL naming
another machine is refused unless ``DESKPILOT_ALLOW_PLAIN_HTTP=1``.

Nothing here imports httpx or the store: ``import supervisor.client`` stays light.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from automation.errors import DeskpilotError
from supervisor.pinning import PIN_VARIABLE, PinSettingError, normalize_pin, pinned_context

if TYPE_CHECKING:
    from automation.secrets import KeyringSecretStore

REMOTE_VARIABLE = "DESKPILOT_REMOTE"
TOKEN_VARIABLE = "DESKPILOT_API_TOKEN"
CA_VARIABLE = "DESKPILOT_API_CA"
PLAIN_HTTP_VARIABLE = "DESKPILOT_ALLOW_PLAIN_HTTP"
CONNECTION_FILE = "connection.json"
#: The value of ``DESKPILOT_REMOTE`` / ``--api`` that means this machine's supervisor.
LOCAL = "local"
#: Keyring service of API tokens: the secrets' service with this suffix, so tokens never
#: show up among a workflow's secrets.
TOKEN_SERVICE_SUFFIX = "-api-tokens"


class ConnectionSettingError(DeskpilotError):
    """A remote API setting (URL, CA file, token, saved file) is wrong or unusable."""


@dataclass(frozen=True, kw_only=True)
class RemoteApi:
    """Another machine's supervisor API, and how to trust it.

    ``token`` is kept out of ``repr`` so it cannot reach a log by accident.
    """

    url: str
    #: A PEM file of CAs (or the server's self-signed certificate) to trust; None: the system's.
    ca_file: Path | None = None
    token: str | None = field(default=None, repr=False)
    #: ``sha256:HEX`` of the one certificate to trust (replaces the CA check); not secret.
    pin: str | None = None
    #: Where the URL came from, for messages ('--api', 'DESKPILOT_REMOTE', the saved file).
    source: str = ""
    #: Why the keyring gave no token (locked, no backend), for the missing-token message.
    token_problem: str = ""

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or self.url

    @property
    def secure(self) -> bool:
        return self.url.startswith("https://")

    def ssl_context(self) -> ssl.SSLContext:
        """The context certificates are checked with: the pin, else the CAs (and host name)."""
        if self.pin is not None:
            return pinned_context(self.pin)
        context = ssl.create_default_context()
        if self.ca_file is not None:
            try:
                context.load_verify_locations(cafile=str(self.ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise ConnectionSettingError(
                    f"cannot use {self.ca_file} as the CA file for {self.url}: {exc}; give a PEM "
                    f"file (the CA, or the supervisor's own certificate) in {CA_VARIABLE} or "
                    "'deskpilot connection set --ca FILE'"
                ) from None
            # A pinned self-signed certificate is its own root: partial chains are fine.
            context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
            # Strict checks refuse common self-signed certificates (no key usage); the
            # chain, the dates and the host name are still checked.
            context.verify_flags &= ~ssl.VERIFY_X509_STRICT
        return context


def normalize_url(url: str) -> str:
    """``url`` as saved and compared: scheme, host and port (and path), no trailing '/'.

    Raises ``ConnectionSettingError`` for anything but an http(s) URL with a host.
    """
    text = url.strip()
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectionSettingError(
            f"{url!r} is not a supervisor API address; give a URL such as "
            "https://robot-2.example.com:8750 (as 'deskpilot machines' shows it)"
        )
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConnectionSettingError(f"{url!r} has a bad port number") from None
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConnectionSettingError(
            f"{url!r}: give the address only (no user, password, query or fragment); "
            f"the token goes in the keyring or {TOKEN_VARIABLE}"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport_security(url: str, environ: Mapping[str, str]) -> None:
    """Refuse to send a token unencrypted to another machine, unless asked for."""
    parts = urlsplit(url)
    if parts.scheme == "https" or is_loopback_host(parts.hostname or ""):
        return
    if environ.get(PLAIN_HTTP_VARIABLE, "").strip() in ("1", "true", "yes"):
        return
    raise ConnectionSettingError(
        f"{url} is plain HTTP to another machine: the API token would cross the network "
        "unencrypted.  Serve the API with TLS there (DESKPILOT_API_TLS_CERT and "
        "DESKPILOT_API_TLS_KEY, see the README) and connect with https://, or, on a "
        f"network you trust, set {PLAIN_HTTP_VARIABLE}=1"
    )


# -- the saved connection -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SavedConnection:
    """What ``connection.json`` holds: never a token."""

    url: str
    ca_file: Path | None = None
    #: The pinned certificate fingerprint (public: it names a certificate, it opens nothing).
    pin: str | None = None


def connection_path(config_dir: Path) -> Path:
    return config_dir / CONNECTION_FILE


def load_saved(config_dir: Path) -> SavedConnection | None:
    """The saved connection, or None when the client talks to this machine."""
    path = connection_path(config_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConnectionSettingError(
            f"cannot read the saved connection {path} ({exc}); fix it, or delete it "
            "('deskpilot connection clear') to talk to this machine's supervisor"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        raise ConnectionSettingError(
            f"the saved connection {path} has no 'url'; run 'deskpilot connection set URL' "
            "again, or 'deskpilot connection clear'"
        )
    ca = data.get("ca_file")
    pin = data.get("pin")
    try:
        pin = normalize_pin(pin) if isinstance(pin, str) and pin else None
    except PinSettingError as exc:
        raise ConnectionSettingError(
            f"the saved connection {path} has a bad 'pin': {exc}; run 'deskpilot connection "
            "set URL --pin sha256:HEX' again"
        ) from None
    return SavedConnection(
        url=normalize_url(data["url"]),
        ca_file=Path(ca) if isinstance(ca, str) and ca else None,
        pin=pin,
    )


def save(config_dir: Path, saved: SavedConnection | None) -> Path:
    """Write (or with None remove) the saved connection, atomically."""
    path = connection_path(config_dir)
    if saved is None:
        path.unlink(missing_ok=True)
        return path
    config_dir.mkdir(parents=True, exist_ok=True)
    body = {
        "url": saved.url,
        "ca_file": None if saved.ca_file is None else str(saved.ca_file),
        "pin": saved.pin,
    }
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    draft.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    os.replace(draft, path)  # a reader sees the old file or the new one, never half
    return path


# -- tokens in the keyring -----------------------------------------------------------------


def _token_store() -> KeyringSecretStore:
    from automation.secrets import DEFAULT_SERVICE, SERVICE_ENV, KeyringSecretStore

    base = os.environ.get(SERVICE_ENV) or DEFAULT_SERVICE
    return KeyringSecretStore(service=base + TOKEN_SERVICE_SUFFIX)


def token_entry(url: str) -> str:
    """The keyring name of ``url``'s token (secret names are identifiers, URLs are not)."""
    return "api_" + hashlib.sha256(normalize_url(url).encode("utf-8")).hexdigest()[:32]


def keyring_token(url: str) -> str | None:
    return _token_store().get(token_entry(url))


def store_token(url: str, token: str) -> None:
    _token_store().set(token_entry(url), token)


def forget_token(url: str) -> bool:
    return _token_store().delete(token_entry(url))


# -- resolution ----------------------------------------------------------------------------


def resolve(config_dir: Path, environ: Mapping[str, str] = os.environ) -> RemoteApi | None:
    """The remote API a client should use, or None for this machine's supervisor.

    The token is looked up here (environment, then keyring); a missing one is
    reported when the first request is made, with what to do.
    """
    chosen = environ.get(REMOTE_VARIABLE, "").strip()
    ca_text = environ.get(CA_VARIABLE, "").strip()
    ca_file: Path | None = Path(ca_text).expanduser() if ca_text else None
    pin = pin_setting(environ.get(PIN_VARIABLE, ""), PIN_VARIABLE)
    if chosen.lower() == LOCAL:
        return None
    if chosen:
        url, source = normalize_url(chosen), REMOTE_VARIABLE
    else:
        saved = load_saved(config_dir)
        if saved is None:
            return None
        url, source = saved.url, str(connection_path(config_dir))
        if ca_file is None and pin is None:  # --ca or --pin replaces the saved trust
            ca_file, pin = saved.ca_file, saved.pin
    token = environ.get(TOKEN_VARIABLE, "").strip() or None
    problem = ""
    if token is None:
        try:
            token = keyring_token(url)
        except DeskpilotError as exc:  # said when the first request is made, not here
            problem = str(exc)
    return RemoteApi(
        url=url, ca_file=ca_file, pin=pin, token=token, source=source, token_problem=problem
    )


def pin_setting(text: str, where: str) -> str | None:
    """The pin ``text`` from ``where`` (an option or variable) normalised; None if empty."""
    if not text.strip():
        return None
    try:
        return normalize_pin(text)
    except PinSettingError as exc:
        raise ConnectionSettingError(f"{where}: {exc}") from None
