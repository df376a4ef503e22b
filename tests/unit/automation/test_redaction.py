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
