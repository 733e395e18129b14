"""What a conversation holds besides its last words: its images and sorakit's earlier videos.

Chat clients send the whole history back with every turn, so the video a person calls "it" is
found in what sorakit itself wrote into earlier *assistant* messages, never in a user's words:

- the first line of an answer, `Creating video VIDEO_ID with MODEL: 8 s, 1280x720.`, `Creating
  remix of SOURCE VIDEO_ID with …` or `Creating storyboard PIPELINE_ID with MODEL: …`;
- the signed download link of a finished one, `/v1/links/VIDEO_ID/content?expires=…&signature=…`
  (`/v1/links/pipelines/PIPELINE_ID/content?…` for a stitched storyboard). Given the app's
  `LinkSigner`, a link counts only when its signature is sorakit's (an expired one still names
  its video: old conversations are worth remixing);
- for an image answer, `Creating image IMAGE_ID with MODEL: 1024x1024.` (`Creating 2 images
  ID, ID with …`) and its signed link `/v1/images/IMAGE_ID/content?expires=…&signature=…`.
  sorakit's latest image is kept apart from its latest video: it is "it" only when it is the
  newer of the two, and it is used (as a first frame, or to edit) only when the person asks.

The latest mark wins. The last user message is read strictly (as `chat_models.parse_messages`
does: text and `image_url` parts, image URLs that cannot reach the server's disk); earlier
messages are only looked through, so an odd old message never fails a new turn.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sorakit.errors import InvalidRequestError
from sorakit.gateway.links import LinkSigner
from sorakit.gateway.references import is_image_url, refusal

WorkKind = Literal["video", "pipeline", "image"]

_VIDEO_ID = r"video_[0-9a-f]{32}"
_INTRO = re.compile(
    rf"Creating (?:video|remix of \S+) (?P<id>{_VIDEO_ID}) with (?P<model>[^\s:]+): "
    r"(?P<seconds>\d+) s, (?P<size>\d+x\d+)\."
)
_BOARD_INTRO = re.compile(
    r"Creating storyboard (?P<id>[A-Za-z0-9_-]+) with (?P<model>[^\s:]+): \d+ shots "
    r"\([^)]*\), (?P<seconds>\d+(?:\.\d+)?) s in all, (?P<size>\d+x\d+)\."
)
_IMAGE_ID = r"img_[0-9a-f]{32}"
_IMAGE_INTRO = re.compile(
    rf"Creating (?:image|\d+ images) (?P<ids>{_IMAGE_ID}(?:, {_IMAGE_ID})*) with "
    r"(?P<model>[^\s:]+): (?P<size>\d+x\d+)\."
)
_IMAGE_LINK = re.compile(
    rf"/v1/images/(?P<image>{_IMAGE_ID})/content\?expires=(?P<expires>\d+)&(?:amp;)?"
    r"signature=(?P<signature>[0-9a-f]+)"
)
_LINK = re.compile(
    r"/v1/links/(?:pipelines/(?P<pipeline>[A-Za-z0-9_-]+)|(?P<video>" + _VIDEO_ID + r"))"
    r"/content\?expires=(?P<expires>\d+)&(?:amp;)?signature=(?P<signature>[0-9a-f]+)"
)


@dataclass(frozen=True)
class Earlier:
    """A video (stitched pipeline, image) sorakit made earlier in this conversation."""

    id: str
    kind: WorkKind
    """`video`: a job (it can be remixed or extended); `pipeline`: a stitched storyboard;
    `image`: an image job (a first frame, or an image to edit, when asked for)."""
    model: str | None = None
    """The model it was made with, when the answer's first line said so."""
    seconds: float | None = None
    size: str | None = None
    message: int = 0
    """Its assistant message's index in `messages`."""


@dataclass(frozen=True)
class Conversation:
    """The last user message and what came before it."""

    text: str
    """The last user message's text parts, joined."""
    images: tuple[str, ...]
    """Its `image_url` URLs, in order."""
    earlier_images: tuple[str, ...]
    """Image URLs of earlier user messages, oldest first (reused only when asked)."""
    latest: Earlier | None
    """sorakit's latest video of this conversation: what "it" means."""
    earlier_prompt: str | None
    """The user's words that led to `latest` (to make it again at another size or length)."""
    index: int
    """The last user message's index in `messages`."""
    earlier_images_at: tuple[int, ...] = ()
    """The message index of each of `earlier_images`."""
    latest_image: Earlier | None = None
    """sorakit's latest image of this conversation (used only when asked for)."""

    @property
    def image_is_newer(self) -> bool:
        """sorakit's latest answer is an image: "it" means that image, not the video."""
        image, video = self.latest_image, self.latest
        return image is not None and (video is None or image.message > video.message)


def _parts(content: Any) -> list[Mapping[str, Any]] | None:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list) and all(isinstance(part, Mapping) for part in content):
        return content
    return None


def _image_url(part: Mapping[str, Any]) -> object:
    value = part.get("image_url")
    return value.get("url") if isinstance(value, Mapping) else value


def _last_user(messages: object) -> tuple[int, Mapping[str, Any], list[Mapping[str, Any]]]:
    if not isinstance(messages, Sequence) or isinstance(messages, str) or not messages:
        raise InvalidRequestError("'messages' must be a non-empty list.", param="messages")
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, Mapping) and message.get("role") == "user":
            parts = _parts(message.get("content"))
            if parts is None:
                raise InvalidRequestError(
                    "A message's 'content' must be a string or a list of content parts.",
                    param="messages",
                )
            return index, message, parts
    raise InvalidRequestError("There is no user message to make a video of.", param="messages")


def _read_last(index: int, parts: Iterable[Mapping[str, Any]]) -> tuple[str, tuple[str, ...]]:
    texts: list[str] = []
    images: list[str] = []
    where = f"messages[{index}].content"
    for part in parts:
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url":
            url = _image_url(part)
            if not isinstance(url, str) or not url:
                raise InvalidRequestError(
                    "An 'image_url' part needs 'image_url.url': a data URL or an http(s) URL.",
                    param=where,
                )
            if not is_image_url(url):  # a path would be read off the server's disk
                raise refusal(where, "image_url.url")
            images.append(url)
        else:
            raise InvalidRequestError(
                f"Unsupported content part {kind!r}: send 'text' and 'image_url' parts.",
                param=where,
            )
    return "\n".join(texts).strip(), tuple(images)


def _text_of(message: Mapping[str, Any]) -> str:
    parts = _parts(message.get("content")) or []
    return "\n".join(
        part["text"]
        for part in parts
        if part.get("type") == "text" and isinstance(part.get("text"), str)
    )


def _user_images(message: Mapping[str, Any]) -> list[str]:
    urls = [
        _image_url(part)
        for part in _parts(message.get("content")) or []
        if part.get("type") == "image_url"
    ]
    return [url for url in urls if isinstance(url, str) and is_image_url(url)]


def marks(text: str, message: int = 0, signer: LinkSigner | None = None) -> list[Earlier]:
    """sorakit's marks in one assistant message, in the order they stand."""
    found: list[tuple[int, Earlier]] = []
    for match in _INTRO.finditer(text):
        found.append((match.start(), _earlier(match, "video", message)))
    for match in _BOARD_INTRO.finditer(text):
        found.append((match.start(), _earlier(match, "pipeline", message)))
    for match in _IMAGE_INTRO.finditer(text):
        for image_id in match.group("ids").split(", "):
            found.append(
                (
                    match.start(),
                    Earlier(
                        image_id,
                        "image",
                        model=match.group("model"),
                        size=match.group("size"),
                        message=message,
                    ),
                )
            )
    for match in _IMAGE_LINK.finditer(text):
        expires, signature = int(match.group("expires")), match.group("signature")
        image_id = match.group("image")
        if signer is None or signer.verify(image_id, expires, signature, kind="image") != "invalid":
            found.append((match.start(), Earlier(image_id, "image", message=message)))
    for match in _LINK.finditer(text):
        kind: WorkKind = "pipeline" if match.group("pipeline") else "video"
        work_id = match.group("pipeline") or match.group("video")
        if signer is not None and (
            signer.verify(work_id, int(match.group("expires")), match.group("signature"), kind=kind)
            == "invalid"
        ):
            continue  # not a link sorakit signed
        found.append((match.start(), Earlier(work_id, kind, message=message)))
    return [earlier for _, earlier in sorted(found, key=lambda item: item[0])]


def _earlier(match: re.Match[str], kind: WorkKind, message: int) -> Earlier:
    return Earlier(
        match.group("id"),
        kind,
        model=match.group("model"),
        seconds=float(match.group("seconds")),
        size=match.group("size"),
        message=message,
    )


def latest_work(
    messages: Sequence[object],
    before: int | None = None,
    signer: LinkSigner | None = None,
    *,
    images: bool = False,
) -> Earlier | None:
    """sorakit's latest video (`images`: image) in the assistant messages before index
    `before` (all: None).

    A bare link names only an id; the model, length and size come from that id's first line.
    """
    found: list[Earlier] = []
    for index, message in enumerate(messages[:before]):
        if isinstance(message, Mapping) and message.get("role") == "assistant":
            found.extend(marks(_text_of(message), index, signer))
    found = [earlier for earlier in found if (earlier.kind == "image") == images]
    if not found:
        return None
    last = found[-1]
    described = next((e for e in reversed(found) if e.id == last.id and e.model), None)
    if described is None:
        return last
    return Earlier(
        last.id,
        last.kind,
        model=described.model,
        seconds=described.seconds,
        size=described.size,
        message=last.message,
    )


def read_conversation(messages: object, signer: LinkSigner | None = None) -> Conversation:
    """The last user message (checked) with the earlier images and sorakit's latest video."""
    index, _, parts = _last_user(messages)
    text, images = _read_last(index, parts)
    assert isinstance(messages, Sequence)
    earlier = [
        (at, url)
        for at, message in enumerate(messages[:index])
        if isinstance(message, Mapping) and message.get("role") == "user"
        for url in _user_images(message)
    ]
    latest = latest_work(messages, index, signer)
    asked = None
    if latest is not None:
        asked = next(
            (
                _text_of(message)
                for message in reversed(messages[: latest.message])
                if isinstance(message, Mapping) and message.get("role") == "user"
            ),
            None,
        )
    return Conversation(
        text=text,
        images=images,
        earlier_images=tuple(url for _, url in earlier),
        latest=latest,
        earlier_prompt=asked,
        index=index,
        earlier_images_at=tuple(at for at, _ in earlier),
        latest_image=latest_work(messages, index, signer, images=True),
    )
