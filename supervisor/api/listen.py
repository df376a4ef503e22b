"""Serving the API beyond this machine: where to listen, what to advertise, which token.

By default the API answers on this machine only (``endpoint``), and the
``supervisors`` table shows that local address, which no other machine can
use.  A fleet member that should be reachable from elsewhere (the window on
another desktop, a monitoring script) also listens on TCP:

* ``DESKPILOT_API_LISTEN=HOST:PORT`` binds the address (``0.0.0.0:8750``
  for every interface, ``127.0.0.1:8750`` for this machine only; port 0
  lets the kernel choose);
* ``DESKPILOT_API_URL`` is the address other machines are told
  (``https://robot-2.example.com:8750`` behind a TLS proxy); by default
  ``http://HOST:PORT`` with this machine's name for a wildcard bind;
* ``DESKPILOT_API_TOKEN`` is the bearer token remote clients send (at least
  32 characters; the same on every machine makes one token for the fleet).
  The local ``api-token`` file's token is accepted too.
* ``DESKPILOT_API_TLS_CERT`` and ``DESKPILOT_API_TLS_KEY`` (PEM files) make
  that listener speak HTTPS; the advertised URL then starts with https://.

The same settings (except the token, a secret that belongs in the
environment or a service manager's credential store, not a settings file)
may sit in ``[api]`` of ``config.toml`` as ``listen``, ``url``, ``tls_cert``
and ``tls_key``; a variable that is set wins over its setting
(``listen_settings``).

Every route on that listener sits behind the same bearer gate as the local
socket (``auth.BearerGate``).  A bind beyond loopback without
``DESKPILOT_API_TOKEN`` is refused: the file token is made for this user on
this machine, and serving it to the network by surprise is not a default
anyone chose.  Without TLS the token crosses the network in clear: the daemon
warns, and clients refuse plain http:// to another machine unless told
(``supervisor.remote``); a TLS proxy in front, advertised by its URL, is the
other way.  The certificate and key are loaded here, before anything is
bound, so a wrong path or a key that does not match fails the start with a
message naming the variable.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from supervisor.errors import SupervisorError

LISTEN_VARIABLE = "DESKPILOT_API_LISTEN"
URL_VARIABLE = "DESKPILOT_API_URL"
TOKEN_VARIABLE = "DESKPILOT_API_TOKEN"
CERT_VARIABLE = "DESKPILOT_API_TLS_CERT"
KEY_VARIABLE = "DESKPILOT_API_TLS_KEY"
MIN_TOKEN_LENGTH = 32
SECTION = "api"
#: ``[api]`` settings of config.toml, and the variable each stands for.
SETTINGS = {
    "listen": LISTEN_VARIABLE,
    "url": URL_VARIABLE,
    "tls_cert": CERT_VARIABLE,
    "tls_key": KEY_VARIABLE,
}
_WILDCARDS = {"", "0.0.0.0", "::", "*"}


@dataclass(frozen=True, kw_only=True)
class NetworkListen:
    """A TCP listener for the API, as the environment asks for it."""

    host: str
    port: int
    #: The advertised URL if given; None: made from the bound address (``advertised``).
    url: str | None
    #: The token remote clients send; None only for a loopback bind.
    token: str | None
    #: The PEM certificate (chain) and key the listener serves HTTPS with; None: plain HTTP.
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def advertised(self, bound_port: int) -> str:
        """The URL other machines are told, once the port is known."""
        if self.url is not None:
            return self.url
        host = socket.gethostname() if self.host in _WILDCARDS else self.host
        if ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{bound_port}"


def listen_settings(config_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` over the ``[api]`` settings of ``config_dir/config.toml``, as variables.

    A token in the file is refused: settings files get copied, backed up and shown.
    """
    path = config_dir / "config.toml"
    try:
        with path.open("rb") as stream:
            section: Any = tomllib.load(stream).get(SECTION, {})
    except FileNotFoundError:
        return dict(environ)
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise SupervisorError(f"cannot read {path}: {exc}") from None
    if not isinstance(section, dict):
        raise SupervisorError(f"[{SECTION}] in {path} must be a table of settings")
    if "token" in section:
        raise SupervisorError(
            f"[{SECTION}] in {path} holds a token: remove it, and give the token in "
            f"{TOKEN_VARIABLE} (the environment, or the service manager's credentials)"
        )
    unknown = sorted(set(section) - set(SETTINGS))
    if unknown:
        raise SupervisorError(
            f"unknown setting {', '.join(unknown)} in [{SECTION}] of {path}; "
            f"known: {', '.join(SETTINGS)}"
        )
    merged: dict[str, str] = {}
    for key, value in section.items():
        if not isinstance(value, str):
            raise SupervisorError(f"{key} in [{SECTION}] of {path} must be a string")
        merged[SETTINGS[key]] = value
    merged.update({k: v for k, v in environ.items() if v.strip() or k not in merged})
    return merged


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def network_listen(environ: Mapping[str, str]) -> NetworkListen | None:
    """The TCP listener ``DESKPILOT_API_LISTEN`` asks for; None: this machine only.

    ``environ`` is the environment, or ``listen_settings`` with config.toml's ``[api]``.

    Bad values, and a bind beyond loopback without a token, raise
    ``SupervisorError`` naming the variable and what to do.
    """
    value = environ.get(LISTEN_VARIABLE, "").strip()
    url = environ.get(URL_VARIABLE, "").strip() or None
    token = environ.get(TOKEN_VARIABLE, "").strip() or None
    if not value:
        if url is not None:
            raise SupervisorError(
                f"{URL_VARIABLE} is set, but {LISTEN_VARIABLE} is not: the API answers on this "
                f"machine only, so there is nothing to advertise; set {LISTEN_VARIABLE}=HOST:PORT "
                "too (e.g. 0.0.0.0:8750), or unset it"
            )
        return None
    host, port = _host_port(value)
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SupervisorError(
                f"{URL_VARIABLE} is {url!r}; give an http:// or https:// URL with a host name, "
                "as other machines reach this one"
            )
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise SupervisorError(
            f"{TOKEN_VARIABLE} has {len(token)} characters; use at least {MIN_TOKEN_LENGTH} "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if token is None and not is_loopback(host):
        raise SupervisorError(
            f"{LISTEN_VARIABLE}={value} would serve the API beyond this machine, but no "
            f"{TOKEN_VARIABLE} is set: the API refuses to listen there without a token for "
            f"remote clients.  Set {TOKEN_VARIABLE} (at least {MIN_TOKEN_LENGTH} characters, "
            "e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'), the same on "
            f"every machine that should reach it, or listen on 127.0.0.1"
        )
    cert, key = _tls_files(environ)
    return NetworkListen(host=host, port=port, url=url, token=token, tls_cert=cert, tls_key=key)


def _tls_files(environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The certificate and key files, checked by loading them as the server will."""
    cert = environ.get(CERT_VARIABLE, "").strip() or None
    key = environ.get(KEY_VARIABLE, "").strip() or None
    if cert is None and key is None:
        return None, None
    if cert is None or key is None:
        missing, given = (
            (CERT_VARIABLE, KEY_VARIABLE) if cert is None else (KEY_VARIABLE, CERT_VARIABLE)
        )
        raise SupervisorError(
            f"{given} is set but {missing} is not: HTTPS needs both the certificate and its "
            "private key (PEM files; the README shows an openssl command that makes them)"
        )
    cert, key = os.path.abspath(os.path.expanduser(cert)), os.path.abspath(os.path.expanduser(key))
    for variable, path in ((CERT_VARIABLE, cert), (KEY_VARIABLE, key)):
        if not os.access(path, os.R_OK):
            raise SupervisorError(
                f"{variable} is {path}, which does not exist or cannot be read by this user"
            )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # a password callback, so an encrypted key fails here instead of prompting on a tty
        context.load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError as exc:
        raise SupervisorError(
            f"cannot serve HTTPS with {CERT_VARIABLE}={cert} and {KEY_VARIABLE}={key}: "
            f"{exc.reason or exc}; give a PEM certificate and the private key that belongs "
            "to it (an encrypted key is not supported: the daemon cannot ask for a passphrase)"
        ) from None
    return cert, key


def _host_port(value: str) -> tuple[str, int]:
    if value.startswith("["):  # [::1]:8750
        host, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = value.rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port < 65536 or (not host and not value.startswith(":")):
        raise SupervisorError(
            f"{LISTEN_VARIABLE} is {value!r}; write HOST:PORT, e.g. 0.0.0.0:8750, "
            "127.0.0.1:8750 or [::]:8750 (port 0: any free port)"
        )
    return host, port


def bind_network(listen: NetworkListen) -> socket.socket:
    """A listening TCP socket at the address ``listen`` names."""
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    host = "" if listen.host == "*" else listen.host
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, listen.port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise SupervisorError(
            f"cannot listen on {listen.host}:{listen.port} ({LISTEN_VARIABLE}): {exc.strerror or exc}"
        ) from None
    return sock
