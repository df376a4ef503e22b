"""The Redactor keeps a secret out of text in every form it is likely to travel in."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automation.redaction import MASK, MIN_SECRET_LENGTH, Redactor

SECRET = "s3cr3t-Pa$$ wörd/+?&=é"
B64_RUN = re.compile(r"[A-Za-z0-9+/_-]+")

ENCODINGS: dict[str, Callable[[str], str]] = {
    "plain": lambda s: s,
    "quote": lambda s: quote(s, safe=""),
    "quote_plus": quote_plus,
    "json": lambda s: json.dumps(s)[1:-1],
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "urlsafe_base64": lambda s: base64.urlsafe_b64encode(s.encode()).decode(),
}


def _recoverable_from_base64(text: str, secret: str) -> bool:
    """Whether any base64 fragment left in ``text`` still decodes to the whole secret.

    The Redactor only has to destroy the characters that depend on the secret
    alone; a fragment decoded at any of the four character alignments must no
    longer contain it.
    """
    raw = secret.encode()
    for run in B64_RUN.findall(text):
        for alphabet_fix in (run, run.replace("-", "+").replace("_", "/")):
            for shift in range(4):
                chunk = alphabet_fix[shift:]
                chunk = chunk[: len(chunk) - len(chunk) % 4]
                try:
                    decoded = base64.b64decode(chunk)
                except (binascii.Error, ValueError):
                    continue
                if raw in decoded:
                    return True
    return False


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_each_encoding_of_the_secret_is_masked(encoding: str) -> None:
    encoded = ENCODINGS[encoding](SECRET)
    assert encoded != ""
    redactor = Redactor([SECRET])

    text = f"before {encoded} after"
    result = redactor.text(text)

    assert result == f"before {MASK} after"
    assert SECRET not in result


def test_quote_plus_and_quote_differ_for_this_secret_so_both_forms_are_exercised() -> None:
    assert quote(SECRET, safe="") != quote_plus(SECRET)
    assert json.dumps(SECRET)[1:-1] != SECRET


def test_url_encoded_secret_inside_a_query_string() -> None:
    redactor = Redactor([SECRET])
    url = "https://example.invalid/api?user=bob&" + "token=" + quote_plus(SECRET) + "&page=2"

    assert redactor.text(url) == f"https://example.invalid/api?user=bob&token={MASK}&page=2"


def test_json_document_with_the_secret_as_a_value() -> None:
    redactor = Redactor([SECRET])
    document = json.dumps({"user": "bob", "password": SECRET, "note": "ok"})

    redacted = redactor.text(document)

    assert json.loads(redacted) == {"user": "bob", "password": MASK, "note": "ok"}


def test_http_basic_authorization_header() -> None:
    redactor = Redactor([SECRET])
    header = "Basic " + base64.b64encode(b"user:" + SECRET.encode()).decode()

    redacted = redactor.text(f"Authorization: {header}")

    assert MASK in redacted
    assert not _recoverable_from_base64(redacted, SECRET)


@pytest.mark.parametrize(
    ("offset", "secret"),
    [
        pytest.param(
            offset,
            secret,
            id=f"offset{offset}-len{len(secret)}",
        )
        for offset in (0, 1, 2)
        for secret in ("hunt", "hunte", "hunter", "hunter4", "hunter42", "hunter420")
    ],
)
def test_base64_of_the_secret_embedded_in_longer_base64_at_each_alignment(
    offset: int, secret: str
) -> None:
    redactor = Redactor([secret])
    # prefix length sets the alignment; the suffix bytes have their high bits set,
    # so the characters that straddle the secret's last byte are not padding zeros
    prefix = b"x" * (3 + offset)
    blob = base64.b64encode(prefix + secret.encode() + b"\xff\xfe\xfd tail").decode()
    assert _recoverable_from_base64(blob, secret)

    redacted = redactor.text(f"data={blob}")

    assert MASK in redacted
    assert not _recoverable_from_base64(redacted, secret)


@pytest.mark.parametrize("offset", [0, 1, 2])
def test_urlsafe_base64_embedded_at_each_alignment(offset: int) -> None:
    secret = "~~>>?<<~~"  # 9 bytes whose base64 uses '+' and '/' (urlsafe: '-' and '_')
    redactor = Redactor([secret])
    blob = base64.urlsafe_b64encode(b"p" * offset + secret.encode() + b"tail").decode()
    assert "-" in blob or "_" in blob

    redacted = redactor.text(blob)

    assert MASK in redacted
    assert not _recoverable_from_base64(redacted, secret)


def test_nested_dicts_lists_tuples_and_bytes() -> None:
    redactor = Redactor([SECRET])
    data = {
        "headers": {"Authorization": f"Bearer {SECRET}"},
        "items": [1, None, True, SECRET, ("x", quote_plus(SECRET))],
        SECRET: "secret as a key",
        "raw": f"body {SECRET}".encode(),
        "count": 3,
    }

    redacted = redactor.value(data)

    assert redacted == {
        "headers": {"Authorization": f"Bearer {MASK}"},
        "items": [1, None, True, MASK, ["x", MASK]],
        MASK: "secret as a key",
        "raw": f"body {MASK}".encode(),
        "count": 3,
    }
    assert SECRET not in json.dumps(redactor.value(data), default=str)


def test_short_values_are_not_masked() -> None:
    short = "a" * (MIN_SECRET_LENGTH - 1)
    redactor = Redactor([short])

    assert not redactor
    assert redactor.text(f"say {short} twice {short}") == f"say {short} twice {short}"


def test_a_value_of_exactly_the_minimum_length_is_masked() -> None:
    secret = "q" * MIN_SECRET_LENGTH
    redactor = Redactor([secret])

    assert redactor
    assert redactor.text(f"[{secret}]") == f"[{MASK}]"


def test_secrets_added_later_are_masked_too() -> None:
    redactor = Redactor()
    assert redactor.text("token abcd1234") == "token abcd1234"

    redactor.add("abcd1234")

    assert redactor.text("token abcd1234") == f"token {MASK}"


def test_url_path_encoding_that_keeps_slashes() -> None:
    redactor = Redactor([SECRET])
    assert "/" in SECRET

    assert SECRET not in redactor.text(quote(SECRET))
    assert redactor.text(quote(SECRET)) == MASK


def test_json_written_with_ensure_ascii_false() -> None:
    secret = 'pa"ss wörd'
    redactor = Redactor([secret])

    assert redactor.text(json.dumps({"p": secret}, ensure_ascii=False)) == f'{{"p": "{MASK}"}}'


def test_mask_never_recreates_the_secret() -> None:
    secret = "abc*"
    redactor = Redactor([secret])

    assert secret not in redactor.text("abc" + secret)


printable = st.characters(exclude_categories=("Cs", "Cc", "Co", "Cn"))
secrets_text = st.text(printable, min_size=MIN_SECRET_LENGTH, max_size=24)
surrounding = st.text(printable, max_size=40)


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    secret=secrets_text,
    before=surrounding,
    after=surrounding,
    encoding=st.sampled_from(sorted(ENCODINGS)),
)
def test_property_no_encoding_of_the_secret_survives(
    secret: str, before: str, after: str, encoding: str
) -> None:
    encode = ENCODINGS[encoding]
    redactor = Redactor([secret])
    # encode the whole text, as a URL, a JSON string or a base64 payload would
    text = before + secret + after
    encoded_text = encode(text) if encoding != "plain" else text

    redacted = redactor.text(encoded_text)

    assert secret not in redacted
    for name in ("quote", "quote_plus", "json"):
        assert ENCODINGS[name](secret) not in redacted
    if encoding.endswith("base64"):
        assert not _recoverable_from_base64(redacted, secret)


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(secret=secrets_text, before=surrounding, after=surrounding)
def test_property_plain_secret_anywhere_in_text_is_gone(
    secret: str, before: str, after: str
) -> None:
    redactor = Redactor([secret])

    redacted = redactor.text(before + secret + after)

    assert secret not in redacted
    assert MASK in redacted


# -- every form a secret takes on the way out -------------------------------------------

CANARY = "Can/ary+Val=ue wörd😀"


def _upper_hex_escapes(text: str) -> str:
    return re.sub(r"(%|\\u)([0-9a-f]+)", lambda m: m.group(1) + m.group(2).upper(), text)


REENCODINGS: dict[str, Callable[[str], str]] = {
    "quote safe=''": lambda s: quote(s, safe=""),
    "quote safe='/'": quote,
    "quote_plus": quote_plus,
    "quote, lower-case hex": lambda s: re.sub(
        r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(s, safe="")
    ),
    "rfc3986 reserved kept (httpx query)": lambda s: quote(s, safe="!$&'()*+,;=:@/?"),
    "json ensure_ascii": lambda s: json.dumps(s)[1:-1],
    "json ensure_ascii, upper-case": lambda s: _upper_hex_escapes(json.dumps(s)[1:-1]),
    "json non-ascii kept": lambda s: json.dumps(s, ensure_ascii=False)[1:-1],
    "javascript escapes '/'": lambda s: json.dumps(s)[1:-1].replace("/", "\\/"),
    "repr of str": lambda s: repr(s)[1:-1],
    "repr of bytes": lambda s: repr(s.encode())[2:-1],
    "re.escape": re.escape,
    "hex": lambda s: s.encode().hex(),
    "HEX": lambda s: s.encode().hex().upper(),
    "base64 padded": lambda s: base64.b64encode(s.encode()).decode(),
    "urlsafe base64 padded": lambda s: base64.urlsafe_b64encode(s.encode()).decode(),
    "base64 then url-quoted": lambda s: quote(base64.b64encode(s.encode()).decode(), safe=""),
}


@pytest.mark.parametrize("encoding", sorted(REENCODINGS))
def test_every_reencoding_of_a_secret_with_reserved_and_non_ascii_characters(
    encoding: str,
) -> None:
    encoded = REENCODINGS[encoding](CANARY)
    redactor = Redactor([CANARY])

    assert redactor.text(f"<{encoded}>") == f"<{MASK}>"


def test_the_url_httpx_sends_and_logs() -> None:
    import httpx

    redactor = Redactor([CANARY])
    for url in (
        httpx.URL("http://127.0.0.1/echo", params={"token": CANARY}),
        httpx.URL(f"http://127.0.0.1/echo?token={CANARY}"),
        httpx.URL(f"http://127.0.0.1/{quote(CANARY)}/x"),
    ):
        assert CANARY not in str(url)  # httpx did re-encode it
        assert MASK in redactor.text(str(url)), str(url)


@pytest.mark.parametrize("offset", [0, 1, 2])
@pytest.mark.parametrize("urlsafe", [False, True])
def test_base64_at_each_offset_with_reserved_and_non_ascii_characters(
    offset: int, urlsafe: bool
) -> None:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    redactor = Redactor([CANARY])
    blob = encode(b"u" * offset + CANARY.encode() + b"\xfftail").decode()

    redacted = redactor.text(blob)

    assert not _recoverable_from_base64(redacted, CANARY)


def test_two_secrets_one_inside_the_other_are_masked_whole() -> None:
    redactor = Redactor(["password", "password-for-prod"])

    assert redactor.text("a password-for-prod b password") == f"a {MASK} b {MASK}"


@pytest.mark.parametrize("cut", range(40))
def test_clip_never_keeps_a_prefix_of_a_secret(cut: int) -> None:
    secret = "abcdefgh-secret"
    redactor = Redactor([secret])
    text = "x" * 10 + quote_plus(secret + " ") + "y" * 10

    clipped = redactor.clip(text, cut, suffix="…")

    assert "abcd" not in clipped
    assert len(clipped) <= max(cut, 10 + 3) + 1
    assert text.startswith(clipped.removesuffix("…")) or MASK in clipped


@pytest.mark.parametrize("keep", range(40))
def test_clip_tail_never_keeps_a_suffix_of_a_secret(keep: int) -> None:
    secret = "abcdefgh-secret"
    redactor = Redactor([secret])
    text = "x" * 10 + secret + "y" * 10

    clipped = redactor.clip_tail(text, keep)

    assert "cret" not in clipped
    assert text.endswith(clipped) or MASK in clipped


def test_clip_without_secrets_is_a_plain_cut() -> None:
    assert Redactor().clip("abcdef", 3, suffix="…") == "abc…"
    assert Redactor().clip_tail("abcdef", 3) == "def"
    assert Redactor(["zzzzzzzz"]).clip("abc", 10) == "abc"


def test_a_run_redactor_teaches_its_parent() -> None:
    parent = Redactor()
    child = Redactor(parent=parent)

    child.add("learned-by-the-run")

    assert parent.text("x learned-by-the-run") == f"x {MASK}"


def test_the_filter_masks_message_arguments_traceback_and_extra_fields() -> None:
    import io
    import logging

    from automation.redaction import RedactingFilter

    redactor = Redactor([SECRET])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s %(detail)s"))
    handler.addFilter(RedactingFilter(redactor))
    logger = logging.getLogger("test_redaction.filter")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        try:
            raise ValueError(f"bad {SECRET!r}")
        except ValueError:
            logger.exception("GET %s", quote_plus(SECRET), extra={"detail": {"k": SECRET}})
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()

    assert "ValueError" in written
    assert SECRET not in written
    assert quote_plus(SECRET) not in written
    assert repr(SECRET)[1:-1] not in written
    assert written.count(MASK) == 3


def test_redact_logging_adds_one_filter_to_every_handler() -> None:
    import logging

    from automation.redaction import RedactingFilter, redact_logging

    logger = logging.getLogger("test_redaction.install")
    first, second = logging.NullHandler(), logging.NullHandler()
    logger.addHandler(first)
    logger.addHandler(second)
    try:
        redact_logging(logger)
        redact_logging(logger)
    finally:
        logger.removeHandler(first)
        logger.removeHandler(second)

    for handler in (first, second):
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1


def test_redacting_stream_masks_prints() -> None:
    import io

    from automation.redaction import RedactingStream

    target = io.StringIO()
    stream = RedactingStream(target, Redactor([SECRET]))

    print("token", SECRET, file=stream)

    assert target.getvalue() == f"token {MASK}\n"


def test_masking_a_log_line_is_fast() -> None:
    import time

    redactor = Redactor([CANARY, *(f"another-secret-{i}-value" for i in range(20))])
    line = (
        '{"t": "2026-12-06T12:00:00.000", "level": "info", "logger": "httpx", '
        '"msg": "HTTP Request: GET http://127.0.0.1:4555/echo?x=1 \\"HTTP/1.1 200 OK\\""}'
    )
    text = "\n".join([line] * 2000)
    started = time.perf_counter()
    redactor.text(text)
    per_line = (time.perf_counter() - started) / 2000

    # about 1.5 us here; generous for a loaded CI machine
    assert per_line < 100e-6


def test_a_bad_format_string_does_not_make_logging_raise() -> None:
    import logging

    from automation.redaction import RedactingFilter

    record = logging.makeLogRecord({"msg": "%s and %s", "args": (SECRET,)})

    assert RedactingFilter(Redactor([SECRET])).filter(record)
    assert SECRET not in record.getMessage() and MASK in record.getMessage()
