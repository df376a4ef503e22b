"""Notification blocks: a log line, a webhook call, an e-mail.

E-mail and webhooks are not idempotent: a step retried after the message went
out sends it again, so only failures that happen before the server accepted
the message (connection refused, 4xx "try later" replies, 5xx from a webhook)
are retryable.  The SMTP password arrives already rendered from a secret
template; it is handed to the redactor and never put into a message.
"""

from __future__ import annotations

import mimetypes
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from pydantic import Field, field_validator

from automation.blocks.base import Block, BlockInput, BlockOutput, resolve_path
from automation.blocks.context import BlockContext, LogLevel
from automation.blocks.http import StatusSpec, check_status, parse_status_spec, require, send
from automation.durations import Duration
from automation.errors import BlockError

# -- notify.log ------------------------------------------------------------------------


class LogInput(BlockInput):
    message: str = Field(description="text to write to the run's log")
    level: LogLevel = Field("info", description="debug, info, warning or error")


class LogOutput(BlockOutput):
    message: str = Field(description="the text that was logged")


class NotifyLog(Block[LogInput]):
    """Write a message to the run's log.

    Useful to record what a run saw; warnings and errors stand out in the
    run history."""

    id = "notify.log"
    title = "Log message"
    category = "notify"
    Input = LogInput
    Output = LogOutput

    def run(self, inputs: LogInput, ctx: BlockContext) -> LogOutput:
        ctx.log(inputs.message, inputs.level)
        return LogOutput(message=inputs.message)


# -- notify.webhook --------------------------------------------------------------------


class WebhookInput(BlockInput):
    url: str = Field(description="http:// or https:// URL to POST to")
    payload: Any = Field(description="JSON value sent as the request body")
    headers: dict[str, str] = Field(
        default_factory=dict, description="request headers, e.g. an authorization token"
    )
    timeout: Duration = Field(30.0, description="give up after this long (capped by the deadline)")
    expect_status: StatusSpec = Field("2xx", description="statuses that count as delivered")
    verify_tls: bool = Field(True, description="check the server's HTTPS certificate")

    @field_validator("expect_status")
    @classmethod
    def _valid_status_spec(cls, value: StatusSpec) -> StatusSpec:
        parse_status_spec(value)
        return value


class WebhookOutput(BlockOutput):
    status: int = Field(description="HTTP status the webhook answered with")


class NotifyWebhook(Block[WebhookInput]):
    """POST a JSON payload to a webhook (chat, incident tool, your own service).

    5xx answers and connection failures are retried by the step's retry
    policy; other unexpected answers fail the step at once."""

    id = "notify.webhook"
    title = "Call webhook"
    category = "notify"
    idempotent = False
    Input = WebhookInput
    Output = WebhookOutput

    def run(self, inputs: WebhookInput, ctx: BlockContext) -> WebhookOutput:
        response = send(
            ctx,
            method="POST",
            url=inputs.url,
            headers=inputs.headers,
            json=inputs.payload,
            timeout=inputs.timeout,
            verify_tls=inputs.verify_tls,
            max_bytes=1024 * 1024,
        )
        check_status(ctx, response, inputs.expect_status)
        ctx.log(response.summary())
        return WebhookOutput(status=response.status)


# -- notify.email ----------------------------------------------------------------------


class EmailInput(BlockInput):
    host: str = Field(description="SMTP server host name")
    port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="SMTP port; default 465 with ssl, 587 with starttls, else 25",
    )
    starttls: bool = Field(
        True, description="upgrade the connection with STARTTLS before logging in"
    )
    ssl: bool = Field(False, description="connect over TLS from the start (usually port 465)")
    verify_tls: bool = Field(True, description="check the server's certificate")
    username: str | None = Field(
        None, description="user name to log in with, if the server needs it"
    )
    password: str | None = Field(
        None, description="password; use a secret template such as '{{ secrets.smtp_password }}'"
    )
    sender: str = Field(description="From address")
    to: list[str] = Field(default_factory=list, description="recipient addresses")
    cc: list[str] = Field(default_factory=list, description="copy recipients")
    bcc: list[str] = Field(default_factory=list, description="hidden copy recipients")
    subject: str = Field(description="subject line")
    body: str = Field("", description="plain-text body")
    html: str | None = Field(None, description="optional HTML version of the body")
    attachments: list[str] = Field(
        default_factory=list, description="files to attach, relative to the workflow file"
    )
    timeout: Duration = Field(30.0, description="give up after this long (capped by the deadline)")

    @field_validator("to", "cc", "bcc", mode="before")
    @classmethod
    def _address_list(cls, value: Any) -> Any:
        """Accept "a@x, b@y" as well as a list: templates often produce one string."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("sender", "to", "cc", "bcc")
    @classmethod
    def _looks_like_addresses(cls, value: str | list[str]) -> str | list[str]:
        for address in [value] if isinstance(value, str) else value:
            if "@" not in address or any(c in address for c in "\r\n"):
                raise ValueError(f"'{address}' is not an e-mail address")
        return value

    def problem(self) -> str | None:
        if self.ssl and self.starttls:
            return "choose ssl or starttls, not both (ssl for port 465, starttls for 587)"
        if (self.username is None) != (self.password is None):
            return "give both username and password, or neither"
        if not (self.to or self.cc or self.bcc):
            return "give at least one recipient in 'to', 'cc' or 'bcc'"
        return None

    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 465 if self.ssl else 587 if self.starttls else 25


class EmailOutput(BlockOutput):
    message_id: str = Field(description="Message-ID header of the sent message")
    recipients: list[str] = Field(description="addresses the server accepted")


class NotifyEmail(Block[EmailInput]):
    """Send an e-mail through an SMTP server, with optional HTML and attachments.

    Refused logins, refused recipients and missing attachments fail the step
    at once; unreachable servers and "try again later" replies are retried."""

    id = "notify.email"
    title = "Send e-mail"
    category = "notify"
    idempotent = False
    Input = EmailInput
    Output = EmailOutput

    def run(self, inputs: EmailInput, ctx: BlockContext) -> EmailOutput:
        require(ctx, self.id, inputs.problem())
        if inputs.password:
            ctx.redactor.add(inputs.password)
        message = _compose(inputs, ctx)
        recipients = [*inputs.to, *inputs.cc, *inputs.bcc]
        where = f"{inputs.host}:{inputs.effective_port()}"
        ctx.log(
            f"sending e-mail '{inputs.subject}' to {len(recipients)} recipient(s) via {where}",
            recipients=recipients,
        )
        refused = _deliver(inputs, ctx, message, recipients, where)
        accepted = [r for r in recipients if r not in refused]
        if refused:
            ctx.log(f"the server refused {sorted(refused)}", "warning")
        return EmailOutput(message_id=str(message["Message-ID"]), recipients=accepted)


def _compose(inputs: EmailInput, ctx: BlockContext) -> EmailMessage:
    message = EmailMessage()
    message["From"] = inputs.sender
    if inputs.to:
        message["To"] = ", ".join(inputs.to)
    if inputs.cc:
        message["Cc"] = ", ".join(inputs.cc)
    message["Subject"] = inputs.subject
    message["Date"] = formatdate(localtime=True)
    # make_msgid() without a domain asks DNS for our FQDN, which can hang offline.
    message["Message-ID"] = make_msgid(domain=parseaddr(inputs.sender)[1].rpartition("@")[2])
    message.set_content(inputs.body)
    if inputs.html is not None:
        message.add_alternative(inputs.html, subtype="html")
    for name in inputs.attachments:
        path = resolve_path(ctx, name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BlockError(
                f"cannot attach '{path}': {exc.strerror or exc}; check the path (relative paths "
                "start at the workflow file's folder)",
                retryable=False,
            ) from None
        kind, _ = mimetypes.guess_type(path.name)
        maintype, _, subtype = (kind or "application/octet-stream").partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name)
    return message


def _deliver(
    inputs: EmailInput,
    ctx: BlockContext,
    message: EmailMessage,
    recipients: list[str],
    where: str,
) -> dict[str, tuple[int, bytes]]:
    """Send, returning the recipients the server refused while accepting others."""
    timeout = ctx.remaining(inputs.timeout) or inputs.timeout
    tls = ssl.create_default_context()
    if not inputs.verify_tls:
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    ctx.check_cancelled()
    stage = "connecting to"
    try:
        port = inputs.effective_port()
        server = (
            smtplib.SMTP_SSL(inputs.host, port, timeout=timeout, context=tls)
            if inputs.ssl
            else smtplib.SMTP(inputs.host, port, timeout=timeout)
        )
        with server:
            if inputs.starttls:
                stage = "starting TLS with"
                server.starttls(context=tls)
            if inputs.username is not None and inputs.password is not None:
                stage = "logging in to"
                server.login(inputs.username, inputs.password)
            ctx.check_cancelled()
            stage = "sending through"
            return server.send_message(
                message, from_addr=parseaddr(inputs.sender)[1], to_addrs=recipients
            )
    except smtplib.SMTPAuthenticationError:
        raise BlockError(
            f"{where} rejected the login for '{inputs.username}'; check the user name and the "
            "password secret",
            retryable=False,
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        hint = (
            "set starttls to false (only on a trusted network) or use ssl with port 465"
            if stage == "starting TLS with"
            else "check the server settings"
        )
        raise BlockError(f"error {stage} {where}: {exc}; {hint}", retryable=False) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise BlockError(
            f"{where} refused every recipient: {_refusals(exc.recipients)}; check the addresses",
            retryable=all(400 <= code < 500 for code in codes),
        ) from None
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
        raise BlockError(
            f"error {stage} {where}: the server answered {exc.smtp_code} {text}",
            retryable=400 <= exc.smtp_code < 500,
        ) from None
    except ssl.SSLError as exc:
        hint = (
            "the certificate is not trusted: check the host name, or set verify_tls to false"
            if isinstance(exc, ssl.SSLCertVerificationError)
            else "check whether this port expects ssl, starttls or neither"
        )
        raise BlockError(f"TLS failed {stage} {where}: {exc}; {hint}", retryable=False) from None
    except TimeoutError:
        ctx.check_cancelled()
        raise BlockError(
            f"timed out {stage} {where} after {timeout:g} s; check that the server is up, "
            "or raise 'timeout'",
            retryable=True,
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise BlockError(
            f"error {stage} {where}: {exc}; check that the SMTP server is running and the host "
            "and port are right",
            retryable=True,
        ) from None


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(
        f"{address} ({code} {reply.decode(errors='replace')})"
        for address, (code, reply) in refused.items()
    )


BLOCKS = (NotifyLog, NotifyWebhook, NotifyEmail)
