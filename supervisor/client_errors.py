"""What went wrong talking to a supervisor, said so a person can act on it.

The client's errors, root first::

    DeskpilotError
    ├── SupervisorUnavailable   nothing answers on the socket (not started, stopping, crashed)
    │   │                       or at the remote URL (host down, port closed, no route)
    │   └── SupervisorTlsError  a remote API's certificate was not trusted (or not the
    │                           pinned one), or one side speaks TLS and the other does not
    ├── SupervisorApiError      the supervisor answered with an error; ``status`` is the HTTP
    │   │                       status, ``issues`` the workflow problems of a 422
    │   └── SupervisorAuthError a remote API refused the token (401)
    ├── SupervisorVersionMismatch  a remote supervisor runs another Deskpilot release
    └── ConnectionSettingError  the remote URL, CA file or token setting is unusable

Each message names what failed and what to do: start the supervisor, check
the address, port and firewall, pin or trust a certificate, switch between
TLS and plain HTTP, save the right token, install the same release.
``supervisor.client`` raises them and re-exports the classes.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx

from automation.errors import DeskpilotError
from supervisor.api.endpoint import describe_missing
from supervisor.api.models import IssueInfo
from supervisor.pinning import (
    FINGERPRINT_COMMAND,
    CertificateInfo,
    CertificatePinMismatch,
    certificate_info,
    presented_certificate,
)
from supervisor.remote import (
    CA_VARIABLE,
    REMOTE_VARIABLE,
    TOKEN_VARIABLE,
    ConnectionSettingError,
    RemoteApi,
)

START_HINT = "start it with 'deskpilot supervisor start'"


class SupervisorUnavailable(DeskpilotError):
    """No supervisor answers on this DESKPILOT_HOME's socket."""


class SupervisorTlsError(SupervisorUnavailable):
    """TLS with a remote API failed: an untrusted certificate, or a TLS/plain mismatch.

    ``presented`` is the certificate the server showed when it was not trusted (for
    a person to check and pin); ``expected`` the pin it did not match, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        presented: CertificateInfo | None = None,
        expected: str | None = None,
    ) -> None:
        super().__init__(message)
        self.presented = presented
        self.expected = expected


class SupervisorVersionMismatch(DeskpilotError):
    """A remote supervisor runs a Deskpilot release this client does not speak to."""


class SupervisorApiError(DeskpilotError):
    """The supervisor refused a request; the message is its own explanation."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        issues: list[IssueInfo] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.issues = issues or []
        self.body = body or {}

    @classmethod
    def from_response(cls, response: httpx.Response) -> SupervisorApiError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        message = str(body.get("error") or f"the supervisor answered {response.status_code}")
        issues = [IssueInfo.model_validate(i) for i in body.get("issues") or []]
        return cls(response.status_code, message, issues=issues, body=body)


class SupervisorAuthError(SupervisorApiError):
    """A remote API refused the token this client sent (HTTP 401)."""


def not_running(state_dir: Path) -> SupervisorUnavailable:
    """No endpoint file (or socket) for this home's supervisor."""
    return SupervisorUnavailable(
        f"the Deskpilot supervisor is not running ({describe_missing(state_dir)}); {START_HINT}"
    )


def local_unavailable(where: str, exc: Exception) -> SupervisorUnavailable:
    """This machine's supervisor did not answer at ``where``."""
    if isinstance(exc, httpx.TimeoutException):
        return SupervisorUnavailable(
            f"the Deskpilot supervisor did not answer in time on {where}; "
            "it may be overloaded or stuck (see its log)"
        )
    return SupervisorUnavailable(
        f"the Deskpilot supervisor is not running or is stopping ({where}: {exc}); {START_HINT}"
    )


def no_token(remote: RemoteApi) -> ConnectionSettingError:
    """No API token for ``remote``: nothing is sent without one."""
    why = f" (the keyring: {remote.token_problem})" if remote.token_problem else ""
    return ConnectionSettingError(
        f"no API token for {remote.url}{why}: save it with 'deskpilot connection set "
        f"{remote.url}' (kept in the OS keyring), or set {TOKEN_VARIABLE}"
    )


def version_mismatch(url: str, theirs: str, ours: str) -> SupervisorVersionMismatch:
    return SupervisorVersionMismatch(
        f"the supervisor at {url} runs Deskpilot {theirs}, this client is "
        f"{ours}: install the same release on both machines "
        f"(pip install 'deskpilot=={theirs}' here, or upgrade that machine)"
    )


def token_refused(remote: RemoteApi, body: dict[str, Any]) -> SupervisorAuthError:
    """A remote API answered 401: which tokens it takes, and where to save the right one."""
    return SupervisorAuthError(
        401,
        f"the supervisor at {remote.url} refused the API token (401): it accepts its "
        f"own {TOKEN_VARIABLE} (the fleet's token) and its api-token file's; save the "
        f"right one with 'deskpilot connection set {remote.url}' (OS keyring) or set "
        f"{TOKEN_VARIABLE}",
        body=body,
    )


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def remote_unavailable(remote: RemoteApi, exc: Exception) -> SupervisorUnavailable:
    """What went wrong reaching ``remote``, and what to do about it."""
    url = remote.url
    for cause in _causes(exc):
        if isinstance(cause, CertificatePinMismatch):
            return pin_mismatch(remote, cause)
        if isinstance(cause, ssl.SSLCertVerificationError):
            return untrusted(remote, cause)
    text = " ".join(str(cause) for cause in _causes(exc))
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
        return SupervisorTlsError(
            f"TLS: {url} does not answer with TLS (it may serve plain HTTP); use "
            f"{url.replace('https://', 'http://', 1)} if it does, or turn TLS on there "
            "(DESKPILOT_API_TLS_CERT and DESKPILOT_API_TLS_KEY)"
        )
    if isinstance(exc, ssl.SSLError) or "SSL" in text:
        return SupervisorTlsError(f"TLS with {url} failed ({text}); check the URL and certificate")
    if isinstance(exc, httpx.RemoteProtocolError) and not remote.secure:
        return SupervisorTlsError(
            f"{url} closed the connection without answering; if it serves TLS, connect with "
            f"{url.replace('http://', 'https://', 1)}"
        )
    if isinstance(exc, httpx.TimeoutException):
        return SupervisorUnavailable(
            f"the supervisor at {url} did not answer in time ({type(exc).__name__}); check "
            "that the machine is up and no firewall drops the port"
        )
    return SupervisorUnavailable(
        f"cannot reach the supervisor at {url} ({exc}); check the address and port "
        f"(from {remote.source or REMOTE_VARIABLE}), that the supervisor runs there with "
        "DESKPILOT_API_LISTEN, and that no firewall blocks the port"
    )


def pin_mismatch(remote: RemoteApi, cause: CertificatePinMismatch) -> SupervisorTlsError:
    """The pinned certificate changed: refused before anything was sent, and what to do."""
    shown = certificate_info(cause.der) if cause.der else None
    what = f" ({shown.describe()})" if shown else ""
    return SupervisorTlsError(
        f"TLS: the certificate of {remote.url} is not the pinned one: expected "
        f"{cause.expected}, presented {cause.presented}{what}.  Nothing was sent to it (no "
        "token, no request).  If that machine got a new certificate, read its fingerprint "
        f"there ('{FINGERPRINT_COMMAND}') and, if it is {cause.presented}, pin it: "
        f"'deskpilot connection set {remote.url} --pin {cause.presented}' (or --pin on one "
        "command); if it did not, something between the machines is answering in its place",
        presented=shown,
        expected=cause.expected,
    )


def untrusted(remote: RemoteApi, cause: ssl.SSLCertVerificationError) -> SupervisorTlsError:
    """An untrusted certificate, with what it is (read by a handshake of its own) to pin it."""
    url = remote.url
    trusted = f"the CA file {remote.ca_file}" if remote.ca_file else "the system's CAs"
    shown: CertificateInfo | None = None
    # without it the message still says what failed; only the fingerprint is missing
    with suppress(OSError):
        shown = certificate_info(presented_certificate(url, timeout=5.0))
    if shown is None:
        presents = ""
        pin_hint = "--pin sha256:HEX"
    else:
        presents = f"; it presents {shown.fingerprint} ({shown.describe()})"
        pin_hint = f"--pin {shown.fingerprint}"
    return SupervisorTlsError(
        f"TLS: the certificate of {url} is not trusted ({cause.verify_message}, checked "
        f"against {trusted}){presents}.  If this is the right machine (compare with "
        f"'{FINGERPRINT_COMMAND}' run there), pin it with {pin_hint} (here, or in "
        f"'deskpilot connection set {url} {pin_hint}'), or give its CA or its own "
        f"certificate with --ca FILE, {CA_VARIABLE}, or 'deskpilot connection set {url} "
        "--ca FILE'",
        presented=shown,
    )
