"""Requests built from the app's own OpenAPI spec: every operation, with valid values for each of its
parameters and body fields (so that one hostile value at a time is what the app has to deal with),
and whether a value conforms to what the spec documents for its place."""

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator, FormatChecker

from api.config import ApiSettings
from api.main import create_app
from settlement import clock

SPEC = create_app(ApiSettings(_env_file=None, jwt_secret="only the spec is read")).openapi()
URL_PLACES = ("path", "query", "cookie")
BODY = "body"
ABSENT = object()  # a query parameter or cookie left out
# httpx refuses URLs over 64 KiB (and servers refuse far shorter request lines): a longer text is
# sent cut to this length.
URL_TEXT_LIMIT = 60_000


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def parameters(self) -> list[dict]:
        return [p for p in self.spec.get("parameters", []) if p["in"] in URL_PLACES]

    @property
    def body_schema(self) -> dict | None:
        content = self.spec.get("requestBody", {}).get("content", {})
        return content.get("application/json", {}).get("schema")

    @property
    def security_schemes(self) -> set[str]:
        return {name for requirement in self.spec.get("security", []) for name in requirement}

    def targets(self) -> list[tuple[str, str]]:
        """(place, name) of every value a client sends: parameters, the body's fields, the body itself."""
        targets = [(parameter["in"], parameter["name"]) for parameter in self.parameters]
        if self.body_schema is not None:
            targets += [(BODY, name) for name in resolve(self.body_schema).get("properties", {})]
            targets.append((BODY, ""))  # the whole body
        return targets


def operations() -> list[Operation]:
    return [
        Operation(method, path, operation) for path, methods in SPEC["paths"].items() for method, operation in methods.items()
    ]


def resolve(schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = SPEC["components"]["schemas"][name]
    return schema


def variants(schema: dict) -> list[dict]:
    """The non-null alternatives of a schema (an optional parameter is anyOf [X, null])."""
    schema = resolve(schema)
    options = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return [resolve(option) for option in options if resolve(option).get("type") != "null"]


def example(schema: dict, name: str, known: dict[str, Any]) -> Any:
    """A valid value for a schema: a known one for the name (an existing id), else one made from
    the schema. Fresh ids and emails each time, so a request is never a replay of an earlier one."""
    if name in known:
        return known[name]
    schema = variants(schema)[0]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {prop: example(sub, prop, known) for prop, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return []
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        low = max(1, schema.get("minimum", 1))
        return int(min(low, schema.get("maximum", low)))
    return {
        "date": lambda: clock.today("UTC").isoformat(),
        "date-time": lambda: clock.now().isoformat(),
        "uuid": lambda: str(uuid.uuid4()),
        "email": lambda: f"probe-{uuid.uuid4().hex[:8]}@example.com",
        "uri": lambda: "https://cdn.example.com/probe.mp4",
    }.get(schema.get("format"), lambda: "probe")()


def _validator(schema: dict) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": SPEC["components"]}, format_checker=FormatChecker())


def body_conforms(operation: Operation, body: Any) -> bool:
    return _validator(operation.body_schema).is_valid(body)


def url_value_conforms(parameter: dict, sent: str | object) -> bool:
    """Whether the text a parameter arrives as (ABSENT: left out) is a value the spec allows."""
    if sent is ABSENT:
        return not parameter.get("required", False)
    candidates: list[Any] = [sent]
    if re.fullmatch(r"-?\d+", sent):
        candidates.append(int(sent))
    if sent in ("true", "false"):
        candidates.append(sent == "true")
    return any(_validator(option).is_valid(value) for option in variants(parameter["schema"]) for value in candidates)


# How a hostile value travels in a URL: repeated for a list (the app reads the last one), left out
# for null in a query, JSON for an object. Text is percent-encoded from UTF-8, lone surrogates
# included (they arrive as invalid UTF-8).


def url_texts(value: Any, place: str) -> list[str]:
    return [text[:URL_TEXT_LIMIT] for text in _url_texts(value, place)]


def _url_texts(value: Any, place: str) -> list[str]:
    if value is None:
        return ["null"] if place == "path" else []
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, list):
        if place == "path":
            return [json.dumps(value)]
        return [text for item in value for text in _url_texts(item, place)]
    if isinstance(value, dict):
        return [json.dumps(value)]
    return [str(value)]


def percent_encoded(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def cookie_encoded(text: str) -> bytes:
    """Raw UTF-8, as a browser sends a cookie it was given, but for what would end the header or
    the cookie."""
    raw = text.encode("utf-8", "surrogatepass")
    for special in (b"%", b";", b"\r", b"\n", b"\x00"):
        raw = raw.replace(special, f"%{special[0]:02X}".encode())
    return raw


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, bytes] = field(default_factory=dict)
    content: bytes | None = None


def build(
    operation: Operation, known: dict[str, Any], target: tuple[str, str] | None = None, value: Any = None
) -> tuple[Request | None, bool]:
    """The operation's request with valid values everywhere but at target, which gets value; and
    whether everything sent conforms to the spec. None when value cannot be put there (an empty
    path segment is another URL)."""
    conforms = True
    path, query, cookies = operation.path, [], []
    for parameter in operation.parameters:
        place, name = parameter["in"], parameter["name"]
        if (place, name) == target:
            texts = url_texts(value, place)
        else:
            texts = url_texts(example(parameter["schema"], name, known), place)
        if place == "path":
            if texts == [""]:
                return None, False
            path = path.replace(f"{{{name}}}", percent_encoded(texts[0]))
        elif place == "query":
            query += [f"{quote(name)}={percent_encoded(text)}" for text in texts]
        else:
            cookies += [name.encode() + b"=" + cookie_encoded(text) for text in texts[-1:]]
        if (place, name) == target:
            conforms = url_value_conforms(parameter, texts[-1] if texts else ABSENT)
    request = Request(operation.method.upper(), path + ("?" + "&".join(query) if query else ""))
    if cookies:
        request.headers["cookie"] = b"; ".join(cookies)
    if operation.body_schema is not None:
        body = example(operation.body_schema, "", known)
        if target == (BODY, ""):
            body = value
        elif target is not None and target[0] == BODY:
            body[target[1]] = value
        if target is not None and target[0] == BODY:
            conforms = body_conforms(operation, body)
        request.content = json.dumps(body).encode()  # ASCII: lone surrogates travel as \ud800
        request.headers["content-type"] = b"application/json"
    return request, conforms
