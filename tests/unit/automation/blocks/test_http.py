"""http.request and http.json against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from automation.blocks import http
from automation.blocks.context import BlockContext, RunHooks
from automation.blocks.http import (
    HttpJson,
    HttpRequest,
    RequestInput,
    parse_status_spec,
    redact_url,
)
from automation.blocks.registry import BlockRegistry
from automation.errors import BlockError, BlockInputError, StepTimeout
from automation.testing import HarnessResult, run_block


def request(inputs: dict[str, Any], **kwargs: Any) -> HarnessResult:
    return run_block(HttpRequest, inputs, **kwargs)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_blocks_register():
    registry = BlockRegistry()
    registry.register_module(http)
    assert registry.ids() == ["http.json", "http.request"]
    assert registry["http.request"].category == "http"


# -- sending -----------------------------------------------------------------------------


def test_get_returns_status_headers_body_and_json(http_server):
    url = http_server.add("/data", json={"n": 1}, headers={"X-Trace": "abc"})

    out = request({"url": url}).last

    assert out["status"] == 200
    assert out["json"] == {"n": 1}
    assert out["body"] == '{"n": 1}'
    assert out["headers"]["x-trace"] == "abc"
    assert out["url"] == url
    assert out["elapsed"] > 0
    assert [(r.method, r.path) for r in http_server.requests] == [("GET", "/data")]


def test_json_body_headers_and_params_reach_the_server(http_server):
    url = http_server.add("/items", status=201, json={"id": 7})

    out = request(
        {
            "method": "post",
            "url": url,
            "json": {"name": "x", "tags": [1, 2]},
            "headers": {"X-Api-Key": "k-123"},
            "params": {"page": 2, "q": ["a", "b"]},
        }
    ).last

    assert out["status"] == 201
    seen = http_server.requests[0]
    assert seen.method == "POST"
    assert seen.json() == {"name": "x", "tags": [1, 2]}
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["x-api-key"] == "k-123"
    assert seen.query == {"page": ["2"], "q": ["a", "b"]}


def test_form_is_url_encoded(http_server):
    url = http_server.add("/form")

    request({"method": "POST", "url": url, "form": {"user": "ann", "n": 3}})

    seen = http_server.requests[0]
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert seen.form() == {"user": ["ann"], "n": ["3"]}


def test_text_body_is_sent_verbatim(http_server):
    url = http_server.add("/raw")

    request({"method": "PUT", "url": url, "body": "line 1\nline 2 é"})

    assert http_server.requests[0].body == "line 1\nline 2 é".encode()


def test_non_json_body_gives_null_json(http_server):
    url = http_server.add("/text", body="plain words")

    out = request({"url": url}).last

    assert out["body"] == "plain words"
    assert out["json"] is None


def test_only_one_body_kind_is_allowed(http_server):
    with pytest.raises(BlockInputError, match="only one of 'json', 'form' and 'body'"):
        request({"method": "POST", "url": http_server.url, "json": {}, "body": "x"})
    assert http_server.requests == []


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-Name": "Zoë"}, "header 'X-Name' contains a non-ASCII character at character 3"),
        ({"X-Token": "abc\r\nX-Evil: 1"}, "header 'X-Token' contains a line break"),
        ({"Bad Name": "x"}, "'Bad Name' is not a valid HTTP header name"),
        ({"Ünï": "x"}, "is not a valid HTTP header name"),
    ],
)
def test_a_header_http_cannot_carry_is_an_input_error_naming_it(http_server, headers, message):
    """Not httpx's raw codec error; and the value (perhaps a secret) is not repeated."""
    with pytest.raises(BlockInputError, match=message) as caught:
        request({"url": http_server.url, "headers": headers})
    assert "Zoë" not in str(caught.value) and "Evil" not in str(caught.value)
    assert http_server.requests == []


# -- statuses ------------------------------------------------------------------------------


def test_client_error_is_not_retryable_and_says_what_happened(http_server):
    url = http_server.add("/missing", status=404, body="no such thing here")

    with pytest.raises(BlockError) as caught:
        request({"url": url})

    assert caught.value.retryable is False
    message = str(caught.value)
    for part in ("GET", url, "404", "no such thing here", "check the URL"):
        assert part in message


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_server_trouble_is_retryable(http_server, status):
    url = http_server.add("/busy", status=status, body="later")

    with pytest.raises(BlockError) as caught:
        request({"url": url})

    assert caught.value.retryable is True
    assert str(status) in str(caught.value)


def test_retry_after_is_logged(http_server):
    url = http_server.add("/limited", status=429, headers={"Retry-After": "120"})
    logs: list[tuple[str, str]] = []

    class Hooks(RunHooks):
        def log(self, node_id, level, message, data):
            logs.append((level, message))

    ctx = BlockContext(run_id="r", node_id="fetch", hooks=Hooks())
    with pytest.raises(BlockError, match="server asks to retry after 120") as caught:
        HttpRequest().run(RequestInput(url=url), ctx)

    assert caught.value.retryable is True
    assert ("warning", "the server asks to retry after 120") in logs


def test_expected_status_can_be_a_code_list_or_range(http_server):
    url = http_server.add("/gone", status=410, body="gone")

    assert request({"url": url, "expect_status": [200, 410]}).last["status"] == 410
    assert request({"url": url, "expect_status": "400-499"}).last["status"] == 410
    assert request({"url": url, "expect_status": "2xx, 4xx"}).last["status"] == 410
    with pytest.raises(BlockError, match="expected 2xx"):
        request({"url": url})


def test_bad_status_pattern_is_an_input_error(http_server):
    with pytest.raises(BlockInputError, match="'abc' is not a status pattern"):
        request({"url": http_server.url, "expect_status": "abc"})
    with pytest.raises(ValueError, match="outside 100-599"):
        parse_status_spec("600")


def test_flaky_route_succeeds_when_retried(http_server):
    url = http_server.flaky("/flaky", failures=2, status=503)
    errors: list[BlockError] = []

    for _ in range(3):
        try:
            out = request({"url": url}).last
            break
        except BlockError as exc:
            assert exc.retryable
            errors.append(exc)

    assert len(errors) == 2
    assert out["json"] == {"ok": True}
    assert len(http_server.hits("/flaky")) == 3


# -- redirects -------------------------------------------------------------------------------


def test_redirects_are_followed_to_the_final_url(http_server):
    final = http_server.add("/new", json={"moved": True})
    start = http_server.add("/old", status=302, headers={"Location": "/new"})

    out = request({"url": start}).last

    assert out["url"] == final
    assert out["json"] == {"moved": True}
    assert [r.path for r in http_server.requests] == ["/old", "/new"]


def test_redirects_can_be_left_alone(http_server):
    start = http_server.add("/old", status=302, headers={"Location": "/new"})

    out = request({"url": start, "follow_redirects": False, "expect_status": "3xx"}).last

    assert out["status"] == 302
    assert out["headers"]["location"] == "/new"
    with pytest.raises(BlockError) as caught:
        request({"url": start, "follow_redirects": False})
    assert caught.value.retryable is False


def test_redirect_loop_is_not_retryable(http_server):
    loop = http_server.add("/loop", status=302, headers={"Location": "/loop"})

    with pytest.raises(BlockError, match="redirected too many times") as caught:
        request({"url": loop})
    assert caught.value.retryable is False


# -- time, connections and size --------------------------------------------------------------


def test_slow_server_times_out_retryably(http_server):
    url = http_server.add("/slow", delay=10)
    started = time.monotonic()

    with pytest.raises(BlockError, match="timed out after 0.3 s") as caught:
        request({"url": url, "timeout": "300ms"})

    assert caught.value.retryable is True
    assert not isinstance(caught.value, StepTimeout)
    assert time.monotonic() - started < 5


def test_step_deadline_caps_the_timeout(http_server):
    url = http_server.add("/slow", delay=10)
    started = time.monotonic()

    with pytest.raises(StepTimeout):
        request({"url": url, "timeout": 30}, deadline=time.monotonic() + 0.3)

    assert time.monotonic() - started < 5


def test_connection_refused_is_retryable_and_says_what_to_check():
    url = f"http://127.0.0.1:{closed_port()}/x"

    with pytest.raises(BlockError) as caught:
        request({"url": url})

    assert caught.value.retryable is True
    assert url in str(caught.value)
    assert "check that the server is running" in str(caught.value)


def test_unsupported_scheme_is_not_retryable():
    with pytest.raises(BlockError, match="must start with http") as caught:
        request({"url": "ftp://127.0.0.1/file"})
    assert caught.value.retryable is False


def test_declared_oversize_response_fails_clearly(http_server):
    url = http_server.add("/big", body="x" * 5000)

    with pytest.raises(BlockError, match="larger than max_bytes \\(1000 bytes") as caught:
        request({"url": url, "max_bytes": 1000})

    assert caught.value.retryable is False
    assert request({"url": url, "max_bytes": 5000}).last["body"] == "x" * 5000


def test_streamed_oversize_response_fails_clearly(http_server):
    url = http_server.add("/stream", body=b"y" * 300_000, chunked=True)

    with pytest.raises(BlockError, match="larger than max_bytes") as caught:
        request({"url": url, "max_bytes": 100_000})

    assert caught.value.retryable is False
    assert len(request({"url": url}).last["body"]) == 300_000


# -- secrets stay out of messages ------------------------------------------------------------


def test_redact_url_masks_passwords_and_secret_parameters():
    safe = redact_url("https://bob:hunter22@example.test:8443/p?api_key=abc123&page=2&token=zz9")

    assert "hunter22" not in safe and "abc123" not in safe and "zz9" not in safe
    assert safe.startswith("https://bob:***@example.test:8443/p?")
    assert "page=2" in safe


def test_errors_never_show_credentials(http_server):
    private = http_server.add("/private", status=401, body="who are you")
    host = http_server.url.removeprefix("http://")
    in_url = f"http://bob:hunter22@{host}/private?token=tok-9876&page=1"

    with pytest.raises(BlockError) as by_url:
        request({"url": in_url})
    with pytest.raises(BlockError) as by_header:
        request({"url": private, "headers": {"Authorization": "Bearer sekrit-bearer"}})

    messages = str(by_url.value) + str(by_header.value)
    assert "401" in messages and "check the credentials" in messages
    for secret in ("hunter22", "tok-9876", "sekrit-bearer"):
        assert secret not in messages
    assert http_server.requests[0].query["token"] == ["tok-9876"]
    assert http_server.requests[1].headers["authorization"] == "Bearer sekrit-bearer"


# -- http.json -----------------------------------------------------------------------------


def test_http_json_returns_data_and_asks_for_json(http_server):
    url = http_server.add("/api", json={"items": [1, 2, 3]})

    out = run_block(HttpJson, {"url": url, "method": "POST", "json": {"q": 1}}).last

    assert out == {"data": {"items": [1, 2, 3]}, "status": 200}
    seen = http_server.requests[0]
    assert seen.headers["accept"] == "application/json"
    assert seen.json() == {"q": 1}


def test_http_json_rejects_a_non_json_reply(http_server):
    url = http_server.add("/page", body="<html>login</html>", headers={"Content-Type": "text/html"})

    with pytest.raises(BlockError, match="returned text/html, not JSON") as caught:
        run_block(HttpJson, {"url": url})
    assert caught.value.retryable is False
