"""Request bodies as the Videos API sends them: JSON, or multipart with bracket-nested keys.

The official Python SDK always sends multipart for create/edit/extend, nesting objects as
`input_reference[image_url]=...` and arrays as `characters[][id]=...`; other clients send JSON.
Both arrive here as one plain dict; uploaded files are read into `Upload`s and the form is
closed at once, so no spooled temporary file outlives the request.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from fastapi import Request
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
    if not match:
        target[key] = value
        return
    path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
    node: Any = target
    for index, part in enumerate(path):
        last = index == len(path) - 1
        following = None if last else path[index + 1]
        if part == "":  # an array: `[]` appends, or starts a new element when the key repeats
            assert isinstance(node, list)
            if last:
                node.append(value)
                return
            if not node or (following in node[-1] and isinstance(node[-1], dict)):
                node.append({})
            node = node[-1]
            continue
        if last:
            node[part] = value
            return
        node = node.setdefault(part, [] if following == "" else {})


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
    try:
        body = json.loads(raw)
    except ValueError:
        raise InvalidRequestError(
            "We could not parse the JSON body of your request. The body should be JSON or "
            "multipart/form-data."
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    return body, True


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
        listed = ", ".join(choices[:-1]) + f", or {choices[-1]}"
        raise InvalidRequestError(
            f"Invalid type for 'seconds': expected one of {listed}, but got "
            f"{_type_name(value)} instead.",
            param="seconds",
        )
    return value


def refuse_unknown(body: dict[str, Any], known: set[str]) -> None:
    """Refuse parameters the endpoint does not take, as the API did."""
    for name in body:
        if name not in known:
            raise InvalidRequestError(f"Unrecognized request argument supplied: {name}", param=name)


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
