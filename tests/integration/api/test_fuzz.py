"""Requests generated from the API's own OpenAPI document: no input may cause a 5xx.

Every example sends one request to every operation, with parameters and
bodies drawn from the document's schemas, mixed with values of the wrong
type, out of range, or not JSON at all.  ``POST /shutdown`` is left out (it
would end the test's daemon; it has its own test).  Afterwards the daemon
must still be healthy, with no event stream left subscribed.
"""

from __future__ import annotations

import json
import string
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.common import eventually
from tests.helpers.daemon import RunningDaemon

SKIP = {("post", "/shutdown")}
EXAMPLES = 5

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
JUNK: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


class Schemas:
    """Strategies for the values an OpenAPI schema describes (and some it does not)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.components = document.get("components", {}).get("schemas", {})

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def valid(self, schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
        schema = self.resolve(schema)
        if "anyOf" in schema:
            return st.one_of([self.valid(option, depth) for option in schema["anyOf"]])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        kind = schema.get("type")
        if kind == "integer":
            return st.integers(schema.get("minimum"), schema.get("maximum"))
        if kind == "number":
            low = schema.get("minimum", schema.get("exclusiveMinimum"))
            return st.floats(low, schema.get("maximum"), allow_nan=False, allow_infinity=False)
        if kind == "string":
            return st.text(max_size=40) | st.sampled_from(["/", "/tmp", "/etc/hostname", ".."])
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        if kind == "array":
            return st.lists(self.valid(schema.get("items", {}), depth + 1), max_size=3)
        if kind == "object" and depth < 3:
            properties = schema.get("properties", {})
            required = set(schema.get("required", []))
            return st.fixed_dictionaries(
                {k: self.valid(v, depth + 1) for k, v in properties.items() if k in required},
                optional={
                    k: self.valid(v, depth + 1) for k, v in properties.items() if k not in required
                },
            )
        return JUNK

    def any(self, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
        """Mostly what the schema allows, sometimes anything at all."""
        return st.one_of(self.valid(schema), self.valid(schema), JUNK)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list):
        return json.dumps(value)
    return "" if value is None else str(value)


def _request(
    draw: st.DrawFn, schemas: Schemas, method: str, path: str, operation: dict[str, Any]
) -> dict[str, Any]:
    url = path
    params: dict[str, str] = {}
    headers: dict[str, str] = {}
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        where = parameter["in"]
        if where == "path":
            value = draw(st.text(min_size=1, max_size=24) | st.sampled_from(["x", "%", "..", " "]))
            url = url.replace("{" + parameter["name"] + "}", quote(value, safe=""))
        elif where == "query" and draw(st.booleans()):
            params[parameter["name"]] = _query_value(draw(schemas.any(schema)))
        elif where == "header" and draw(st.booleans()):
            headers[parameter["name"]] = draw(st.text(string.printable.strip(), max_size=20))
    content: bytes | None = None
    body = operation.get("requestBody")
    if body is not None and draw(st.integers(0, 9)) > 0:
        media = body.get("content", {}).get("application/json", {})
        choice = draw(st.integers(0, 5))
        if choice == 0:
            content = draw(st.binary(max_size=40))  # not JSON at all
        else:
            value = draw(schemas.any(media.get("schema", {})))
            content = json.dumps(value).encode()
        headers["Content-Type"] = draw(st.sampled_from(["application/json", "text/plain"]))
    for name in operation.get("security", [{}])[0]:
        if name == "WebhookSignature" and draw(st.booleans()):
            headers["X-Deskpilot-Signature"] = "t=1,v1=" + draw(
                st.text("0123456789abcdef", max_size=64)
            )
    return {
        "method": method.upper(),
        "url": url,
        "params": params,
        "headers": headers,
        "content": content,
    }


def test_generated_requests_never_get_a_5xx(api_daemon: RunningDaemon) -> None:
    with api_daemon.http(timeout=20) as client:
        document = client.get("/openapi.json").json()
    schemas = Schemas(document)
    operations = [
        (method, path, operation)
        for path, item in sorted(document["paths"].items())
        for method, operation in sorted(item.items())
        if (method, path) not in SKIP
    ]
    assert len(operations) >= 19
    seen: set[tuple[str, str]] = set()

    def subscribers() -> int:
        return api_daemon.call(lambda: api_daemon.parts.supervisor.bus.subscribers)

    baseline = subscribers()

    @st.composite
    def requests(
        draw: st.DrawFn, method: str, path: str, operation: dict[str, Any]
    ) -> dict[str, Any]:
        return _request(draw, schemas, method, path, operation)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def every_operation(data: st.DataObject) -> None:
        with api_daemon.http(timeout=20) as client:
            for method, path, operation in operations:
                request = data.draw(requests(method, path, operation), label=f"{method} {path}")
                with client.stream(**request) as response:
                    status = response.status_code
                    if not response.headers.get("content-type", "").startswith("text/event-stream"):
                        response.read()
                assert status < 500, (request, status, response.text if status != 200 else "")
                if status >= 400:
                    assert isinstance(response.json()["error"], str), (request, response.text)
                seen.add((method, path))

    every_operation()
    assert seen == {(m, p) for m, p, _ in operations}
    with api_daemon.client() as api:
        api.resume_all()  # the fuzzing may have paused triggers
        health = api.health()
    assert health.status == "ok" and health.accepting
    assert api_daemon.alive
    # every event stream it opened and dropped was unsubscribed
    eventually(lambda: subscribers() == baseline, timeout=10)
