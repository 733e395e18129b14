"""A fake of the OpenAI Images API (`/v1/images/generations`, `/v1/images/edits`), served through
`httpx.MockTransport`.

Written from the API reference and the official SDK (openai 3.x `images.generate` / `.edit`):
Bearer auth with the 401 envelope; a JSON generation; a multipart edit whose input images are
`image[]` parts (or one `image`) and whose `mask` must match the first image's size; per-model
sizes, `n` and `quality`; `output_format` only for `gpt-image-*` and `response_format` only for
DALL-E (each is the real 400 "Unknown parameter" on the other); a prompt with the moderation
word is the real 400 `moderation_blocked`; the answer is `b64_json` (or, with `url_mode`, a URL
on a storage host that takes no credential). `paid` counts images billed, so a test can tell
whether anything was paid for twice.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from PIL import Image

MODERATION_WORD = "forbidden"
STORAGE = "http://storage.images.test/"
GPT_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
SIZES = {
    "gpt-image-1": GPT_SIZES,
    "gpt-image-1-mini": GPT_SIZES,
    "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
    "dall-e-2": ("256x256", "512x512", "1024x1024"),
}
QUALITIES = {"gpt": ("low", "medium", "high", "auto"), "dall-e": ("standard", "hd")}
FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


@dataclass
class Part:
    """One multipart part: a field (`filename` None) or a file."""

    name: str
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class ImageCall:
    """One request the fake saw, parsed."""

    path: str
    headers: httpx.Headers
    encoding: str
    fields: dict[str, Any] = field(default_factory=dict)
    files: list[Part] = field(default_factory=list)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = (
            status,
            message,
            param,
            code,
            kind,
        )


class FakeImagesAPI:
    """The Images API in memory; `transport()` is what the client under test sends through."""

    def __init__(self, *, api_key: str = "sk-test-key") -> None:
        self.api_key = api_key
        self.calls: list[ImageCall] = []
        self.paid = 0
        self.url_mode = False
        self.stored: dict[str, bytes] = {}
        self._faults: list[Callable[[httpx.Request], httpx.Response]] = []
        self._lose_next = False

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def fail_next(
        self,
        status: int,
        message: str = "injected",
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next request answers `status` with the error envelope."""
        body = {"error": {"message": message, "type": "requests", "param": None, "code": code}}
        self._faults.append(lambda _r: httpx.Response(status, json=body, headers=headers))

    def lose_next_response(self) -> None:
        """The next request is handled (and paid for) but its answer never arrives."""
        self._lose_next = True

    async def handle(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        if request.url.host == "storage.images.test":
            if "authorization" in request.headers:
                return httpx.Response(403, text="storage URLs take no credential")
            data = self.stored.get(request.url.path.rsplit("/", 1)[-1])
            return httpx.Response(200, content=data) if data else httpx.Response(404)
        call = _record(request)
        self.calls.append(call)
        if self._faults:
            return self._faults.pop(0)(request)
        try:
            self._authenticate(request)
            if request.method != "POST" or call.path not in (
                "/v1/images/generations",
                "/v1/images/edits",
            ):
                raise ApiError(404, f"Invalid URL ({request.method} {call.path})")
            response = self._image(call, edit=call.path.endswith("/edits"))
        except ApiError as exc:
            error = {"message": exc.message, "type": exc.kind, "param": exc.param, "code": exc.code}
            response = httpx.Response(exc.status, json={"error": error})
        if self._lose_next:
            self._lose_next = False
            raise httpx.ReadTimeout("timed out waiting for the answer", request=request)
        return response

    def _authenticate(self, request: httpx.Request) -> None:
        header = request.headers.get("authorization", "")
        if header != f"Bearer {self.api_key}":
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")

    def _image(self, call: ImageCall, *, edit: bool) -> httpx.Response:
        body = call.fields
        if edit and call.encoding != "multipart":
            raise ApiError(400, "This endpoint takes multipart/form-data.")
        if not edit and call.encoding != "json":
            raise ApiError(400, "This endpoint takes a JSON body.")
        model = str(body.get("model", "dall-e-2"))
        if model not in SIZES:
            raise ApiError(400, f"Invalid value for 'model': {model!r}.", param="model")
        family = "dall-e" if model.startswith("dall-e") else "gpt"
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise ApiError(400, "Missing required parameter: 'prompt'.", param="prompt")
        size = str(body.get("size", "1024x1024"))
        if size not in SIZES[model]:
            raise ApiError(400, f"Invalid value for 'size': {size!r}.", param="size")
        n = int(body.get("n", 1))
        if not 1 <= n <= (1 if model == "dall-e-3" else 10):
            raise ApiError(400, f"Invalid value for 'n': {n}.", param="n")
        quality = body.get("quality")
        if quality is not None and quality not in QUALITIES[family]:
            raise ApiError(400, f"Invalid value for 'quality': {quality!r}.", param="quality")
        unknown = "output_format" if family == "dall-e" else "response_format"
        if unknown in body:
            raise ApiError(400, f"Unknown parameter: '{unknown}'.", param=unknown)
        fmt = str(body.get("output_format", "png"))
        if fmt not in FORMATS:
            raise ApiError(400, f"Invalid value for 'output_format': {fmt!r}.")
        if edit:
            self._check_edit(call, model)
        if MODERATION_WORD in prompt:
            raise ApiError(
                400,
                "Your request was rejected as a result of our safety system. Your request may "
                "contain content that is not allowed by our safety system.",
                code="moderation_blocked",
                kind="image_generation_user_error",
            )
        width, height = (1024, 1024) if size == "auto" else map(int, size.split("x"))
        self.paid += n
        data = [self._one(width, height, fmt, index) for index in range(n)]
        answer: dict[str, Any] = {"created": 1_760_000_000, "data": data}
        if family == "gpt":
            answer |= {
                "background": "opaque",
                "output_format": fmt,
                "quality": quality or "auto",
                "size": f"{width}x{height}",
                "usage": {
                    "input_tokens": 50,
                    "output_tokens": 1056,
                    "total_tokens": 1106,
                    "input_tokens_details": {"image_tokens": 0, "text_tokens": 50},
                },
            }
        return httpx.Response(200, json=answer)

    def _check_edit(self, call: ImageCall, model: str) -> None:
        if model not in ("gpt-image-1", "gpt-image-1-mini", "dall-e-2"):
            raise ApiError(400, f"The model {model!r} does not support image edits.", param="model")
        images = [p for p in call.files if p.name in ("image", "image[]")]
        if not images:
            raise ApiError(400, "Missing required parameter: 'image'.", param="image")
        if len(images) > 16:
            raise ApiError(400, "Too many images: at most 16.", param="image")
        mask = next((p for p in call.files if p.name == "mask"), None)
        if mask is not None:
            with (
                Image.open(io.BytesIO(mask.data)) as m,
                Image.open(io.BytesIO(images[0].data)) as first,
            ):
                if m.size != first.size or m.mode != "RGBA":
                    raise ApiError(
                        400, "Invalid mask: an RGBA PNG the size of the image.", param="mask"
                    )

    def _one(self, width: int, height: int, fmt: str, index: int) -> dict[str, str]:
        out = io.BytesIO()
        Image.new("RGB", (width, height), (30, 90 + index, 160)).save(out, format=FORMATS[fmt])
        if self.url_mode:
            name = f"img-{len(self.stored)}.{fmt}"
            self.stored[name] = out.getvalue()
            return {"url": STORAGE + name}
        return {"b64_json": base64.b64encode(out.getvalue()).decode()}


def _record(request: httpx.Request) -> ImageCall:
    content_type = request.headers.get("content-type", "")
    call = ImageCall(path=request.url.path, headers=request.headers, encoding="none")
    if content_type.startswith("application/json"):
        call.encoding = "json"
        call.fields = json.loads(request.content)
    elif content_type.startswith("multipart/form-data"):
        call.encoding = "multipart"
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            head + request.content
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            assert isinstance(name, str) and isinstance(payload, bytes)
            filename = part.get_filename()
            if filename is None:
                call.fields[name] = payload.decode()
            else:
                call.files.append(Part(name, filename, part.get_content_type(), payload))
    return call
