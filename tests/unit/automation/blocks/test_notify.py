"""notify.log, notify.webhook and notify.email against real local servers."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from automation.blocks import notify
from automation.blocks.context import BlockContext, RunHooks
from automation.blocks.notify import EmailInput, NotifyEmail, NotifyLog, NotifyWebhook
from automation.blocks.registry import BlockRegistry
from automation.errors import BlockError, BlockInputError
from automation.testing import run_block


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def mail(smtp_server, **inputs: Any) -> dict[str, Any]:
    return {
        "host": smtp_server.host,
        "port": smtp_server.port,
        "starttls": False,
        "sender": "Deskpilot <bot@example.test>",
        "to": ["ann@example.test"],
        "subject": "Nightly report",
        "body": "All 12 jobs passed.",
        **inputs,
    }


def test_blocks_register_and_are_marked_not_idempotent():
    registry = BlockRegistry()
    registry.register_module(notify)
    assert registry.ids() == ["notify.email", "notify.log", "notify.webhook"]
    assert registry["notify.email"].idempotent is False
    assert registry["notify.webhook"].idempotent is False


# -- notify.log ------------------------------------------------------------------------


def test_log_writes_the_message_at_its_level():
    result = run_block(NotifyLog, {"message": "disk almost full", "level": "warning"})

    assert result.last == {"message": "disk almost full"}
    assert ("warning", "disk almost full", {}) in result.logs


# -- notify.webhook --------------------------------------------------------------------


def test_webhook_posts_the_payload_as_json(http_server):
    url = http_server.add("/hook", status=204)

    out = run_block(
        NotifyWebhook,
        {"url": url, "payload": {"text": "done", "n": 3}, "headers": {"X-Sig": "abc"}},
    ).last

    assert out == {"status": 204}
    seen = http_server.requests[0]
    assert (seen.method, seen.json(), seen.headers["x-sig"]) == (
        "POST",
        {"text": "done", "n": 3},
        "abc",
    )


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (400, False)])
def test_webhook_failures_say_whether_to_retry(http_server, status, retryable):
    url = http_server.add("/hook", status=status, body="nope")

    with pytest.raises(BlockError) as caught:
        run_block(NotifyWebhook, {"url": url, "payload": {}})

    assert caught.value.retryable is retryable
    assert str(status) in str(caught.value)


def test_webhook_connection_refused_is_retryable():
    with pytest.raises(BlockError, match="could not connect") as caught:
        run_block(NotifyWebhook, {"url": f"http://127.0.0.1:{closed_port()}/", "payload": 1})
    assert caught.value.retryable is True


# -- notify.email ----------------------------------------------------------------------


def test_email_is_delivered_with_subject_body_and_attachment(smtp_server, tmp_path):
    (tmp_path / "report.csv").write_text("job,result\na,ok\n")

    out = run_block(
        NotifyEmail,
        mail(
            smtp_server,
            cc="boss@example.test, ops@example.test",
            bcc=["audit@example.test"],
            attachments=["report.csv"],
        ),
        workflow_dir=tmp_path,
    ).last

    received = smtp_server.wait_for(1)[0]
    everyone = [
        "ann@example.test",
        "boss@example.test",
        "ops@example.test",
        "audit@example.test",
    ]
    assert received.mail_from == "bot@example.test"
    assert received.rcpt_tos == everyone
    message = received.message
    assert message["Subject"] == "Nightly report"
    assert message["To"] == "ann@example.test"
    assert message["Cc"] == "boss@example.test, ops@example.test"
    assert message["Bcc"] is None  # hidden recipients stay hidden
    assert message["Message-ID"] == out["message_id"]
    assert out["recipients"] == everyone
    body = message.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "All 12 jobs passed."
    attachments = list(message.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["report.csv"]
    assert attachments[0].get_content() == "job,result\na,ok\n"
    assert received.login is None


def test_email_html_alternative(smtp_server):
    run_block(NotifyEmail, mail(smtp_server, html="<p>All <b>12</b> passed</p>"))

    message = smtp_server.wait_for(1)[0].message
    html = message.get_body(("html",))
    assert html is not None and "<b>12</b>" in html.get_content()
    plain = message.get_body(("plain",))
    assert plain is not None and "All 12 jobs passed." in plain.get_content()


def test_email_logs_in_without_leaking_the_password(smtp_server):
    smtp_server.users["reports"] = "pa55-w0rd-xyz"

    result = run_block(NotifyEmail, mail(smtp_server, username="reports", password="pa55-w0rd-xyz"))

    assert smtp_server.wait_for(1)[0].login == "reports"
    assert "pa55-w0rd-xyz" not in repr(result.logs)


def test_email_wrong_password_is_not_retryable_and_not_shown(smtp_server):
    smtp_server.users["reports"] = "right-password"

    with pytest.raises(BlockError, match="rejected the login for 'reports'") as caught:
        run_block(NotifyEmail, mail(smtp_server, username="reports", password="wrong-password"))

    assert caught.value.retryable is False
    assert "wrong-password" not in str(caught.value)
    assert set(smtp_server.failed_logins) == {"reports"}  # smtplib tries PLAIN, then LOGIN
    assert smtp_server.messages == []


def test_password_is_given_to_the_redactor(smtp_server):
    smtp_server.users["reports"] = "pa55-w0rd-xyz"
    ctx = BlockContext(run_id="r", node_id="mail", hooks=RunHooks())

    NotifyEmail().run(
        EmailInput.model_validate(mail(smtp_server, username="reports", password="pa55-w0rd-xyz")),
        ctx,
    )

    assert ctx.redactor.text("echo pa55-w0rd-xyz") == "echo ***"


def test_starttls_against_a_server_without_it_says_what_to_change(smtp_server):
    with pytest.raises(BlockError, match="set starttls to false") as caught:
        run_block(NotifyEmail, mail(smtp_server, starttls=True))

    assert caught.value.retryable is False
    assert smtp_server.messages == []


def test_missing_attachment_fails_before_sending(smtp_server, tmp_path):
    with pytest.raises(BlockError, match="cannot attach") as caught:
        run_block(NotifyEmail, mail(smtp_server, attachments=["nope.pdf"]), workflow_dir=tmp_path)

    assert caught.value.retryable is False
    assert str(tmp_path / "nope.pdf") in str(caught.value)
    assert smtp_server.messages == []


def test_unreachable_server_is_retryable():
    inputs = {
        "host": "127.0.0.1",
        "port": closed_port(),
        "starttls": False,
        "sender": "bot@example.test",
        "to": ["ann@example.test"],
        "subject": "s",
    }

    with pytest.raises(BlockError, match="check that the SMTP server is running") as caught:
        run_block(NotifyEmail, inputs)
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"ssl": True, "starttls": True}, "choose ssl or starttls"),
        ({"username": "u"}, "give both username and password"),
        ({"to": []}, "at least one recipient"),
    ],
)
def test_conflicting_inputs_are_rejected(smtp_server, inputs, message):
    with pytest.raises(BlockInputError, match=message):
        run_block(NotifyEmail, mail(smtp_server, **inputs))
    assert smtp_server.messages == []


def test_bad_address_is_rejected_at_validation(smtp_server):
    with pytest.raises(BlockInputError, match="not an e-mail address"):
        run_block(NotifyEmail, mail(smtp_server, to=["not-an-address"]))


def test_default_port_follows_the_security_mode():
    base = {"host": "h", "sender": "a@b.c", "to": ["d@e.f"], "subject": "s"}
    assert EmailInput.model_validate(base).effective_port() == 587
    assert (
        EmailInput.model_validate({**base, "ssl": True, "starttls": False}).effective_port() == 465
    )
    assert EmailInput.model_validate({**base, "starttls": False}).effective_port() == 25


def test_attachment_paths_resolve_from_the_workflow_folder(smtp_server, tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "chart.png").write_bytes(b"\x89PNG fake")

    run_block(NotifyEmail, mail(smtp_server, attachments=["sub/chart.png"]), workflow_dir=tmp_path)

    attachment = next(smtp_server.wait_for(1)[0].message.iter_attachments())
    assert attachment.get_content_type() == "image/png"
    assert attachment.get_content() == b"\x89PNG fake"
