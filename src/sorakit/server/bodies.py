"""Request bodies as the Videos API sends them: JSON, or multipart with bracket-nested keys.

The official Python SDK always sends multipart for create/edit/extend, nesting objects as
`input_reference[image_url]=...` and arrays as `characters[][id]=...`; other clients send JSON.
Both arrive here as one plain dict; uploaded files are read into `Upload`s and the form is
closed at once, so no spooled temporary file outlives the request.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from sorakit.errors import InvalidRequestError

MAX_PART_BYTES = 25 * 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart body."""

    data: bytes
    filename: str | None
    content_type: str | None


_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def _assign(target: dict[str, Any], key: str, value: Any) -> None:
    match = _KEY.match(key)
    path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))] if match else [key]
    node: Any = target
    for index, part in enumerate(path):
        last = index == len(path) - 1
        following = None if last else path[index + 1]
        if part == "" and index:  # `[]`: append, or start a new element when the key repeats
            if not isinstance(node, list):
                raise _conflict(key)
            if last:
                node.append(value)
                return
            if not node or not isinstance(node[-1], dict) or following in node[-1]:
                node.append({})
            node = node[-1]
            continue
        if not isinstance(node, dict):
            raise _conflict(key)
        if last:
            if part not in node:
                node[part] = value
            elif isinstance(node[part], dict):
                raise _conflict(key)
            else:  # a repeated field is a list of its values (several `reference_images` files)
                node[part] = [*_as_list(node[part]), value]
            return
        node = node.setdefault(part, [] if following == "" else {})


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _conflict(key: str) -> InvalidRequestError:
    name = key.split("[", 1)[0]
    return InvalidRequestError(
        f"The form field '{key}' does not fit the other '{name}' fields of the request.",
        param=name or None,
    )


def unflatten(items: list[tuple[str, Any]]) -> dict[str, Any]:
    """`[("a[b]", 1), ("c[][id]", "x")]` -> `{"a": {"b": 1}, "c": [{"id": "x"}]}`."""
    out: dict[str, Any] = {}
    for key, value in items:
        _assign(out, key, value)
    return out


async def read_body(request: Request) -> tuple[dict[str, Any], bool]:
    """The body as a dict, and whether it came as JSON (where types are checked strictly)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        async with request.form(max_part_size=MAX_PART_BYTES) as form:
            items: list[tuple[str, Any]] = []
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    items.append(
                        (key, Upload(await value.read(), value.filename, value.content_type))
                    )
                else:
                    items.append((key, value))
        return unflatten(items), False
    raw = await request.body()
    if not raw.strip():
        return {}, True
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    return body, True


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


MAX_JSON_DEPTH = 64
"""How deep a JSON body may nest: no request of these APIs needs more than a few levels."""
_TOO_DEEP = f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep."


def parse_json(raw: bytes) -> Any:
    """Strict JSON: no NaN or Infinity, no float overflow, no lone surrogate, no deep nesting."""
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:  # the parser's own recursion gave up, deeper still
        raise InvalidRequestError(_TOO_DEEP) from None
    except ValueError:
        raise InvalidRequestError(
            "We could not parse the JSON body of your request. The body should be JSON or "
            "multipart/form-data."
        ) from None
    if _depth_exceeds(value, MAX_JSON_DEPTH):
        raise InvalidRequestError(_TOO_DEEP)
    # json accepts an escaped lone surrogate (`"\ud800"`), which no text column or encoder can
    # hold; a valid pair (an emoji) is fine. Checked only when such an escape is there at all.
    if _SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise InvalidRequestError(
                "The JSON body holds an unpaired UTF-16 surrogate (\\ud800-\\udfff)."
            ) from None
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` deep (walked without recursion)."""
    level: list[Any] = [value]
    for _ in range(limit):
        level = [
            child
            for node in level
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
        if not level:
            return False
    return bool(level)


def _no_constant(name: str) -> Any:
    raise InvalidRequestError(f"The JSON body holds {name}, which is not a JSON number.")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise InvalidRequestError(f"The JSON number {text[:40]} is too large.")
    return number


def string_field(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """A text field, refusing other types with the API's wording."""
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidRequestError(f"Missing required parameter: '{name}'.", param=name)
        return None
    if not isinstance(value, str):
        raise InvalidRequestError(
            f"Invalid type for '{name}': expected a string, but got {_type_name(value)} instead.",
            param=name,
        )
    return value


def seconds_field(
    body: dict[str, Any], allowed: tuple[int, ...], *, required: bool = False
) -> str | None:
    """`seconds`, which the API takes as a string; a JSON number is refused as the API did."""
    value = body.get("seconds")
    if value is None:
        if required:
            raise InvalidRequestError("Missing required parameter: 'seconds'.", param="seconds")
        return None
    if not isinstance(value, str):
        choices = [f"'{s}'" for s in allowed]
        listed = (
            choices[0]
            if len(choices) == 1
            else "one of " + ", ".join(choices[:-1]) + f", or {choices[-1]}"
        )
        raise InvalidRequestError(
            f"Invalid type for 'seconds': expected {listed}, but got {_type_name(value)} instead.",
            param="seconds",
        )
    return value


def refuse_unknown(body: dict[str, Any], known: set[str]) -> None:
    """Refuse parameters the endpoint does not take, as the API did."""
    for name in body:
        if name not in known:
            raise InvalidRequestError(f"Unrecognized request argument supplied: {name}", param=name)


def described_body(
    json_body: type[BaseModel] | None, form: type[BaseModel] | None = None
) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its body itself: its JSON and multipart shapes."""
    content = {}
    if json_body is not None:
        content["application/json"] = {"schema": _inline(json_body)}
    if form is not None:  # a form field is there or not: it has no null
        content["multipart/form-data"] = {"schema": _inline(form, nullable=False)}
    return {"requestBody": {"required": True, "content": content}}


def _inline(model: type[BaseModel], *, nullable: bool = True) -> dict[str, Any]:
    """A model's JSON Schema with its `$defs` inlined (an operation's schema has no `$defs`)."""
    schema = model.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            if not nullable and "anyOf" in node:
                rest = {
                    key: value for key, value in node.items() if key not in ("anyOf", "default")
                }
                (first, *_) = [n for n in node["anyOf"] if n != {"type": "null"}]
                node = {**rest, **first}
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, Upload):
        return "a file"
    return "a value"
