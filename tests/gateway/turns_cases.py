"""The written requests of `turns_cases.yaml` as chat messages, their checks, and a fake chat model.

Earlier answers are written the way the chat facade writes them (`server/routes/chat.py`:
`Creating video … with …: 4 s, 720x1280.` and a signed link); `test_turns.py` also checks one
real answer of the facade. The fake is an OpenAI-compatible `POST /v1/chat/completions` on
loopback that refuses a schema strict mode would refuse, and answers each known message with
what its case literally asks (`chat_answer`): it stands for a chat model that reads well, so
what it measures is everything sorakit does with a reading. It also answers badly on demand:
invalid JSON, wrong types, an unknown model (404), an answer cut off (`finish_reason=length`),
a slow answer, a server error.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sorakit.errors import InvalidRequestError
from sorakit.gateway.links import LinkSigner
from sorakit.gateway.turns import Turn
from sorakit.gateway.turns_history import read_conversation
from tests.conftest import ThreadedServer
from tests.pipelines.chat_fake import _check_body, _completion, _error

CASES_FILE = Path(__file__).with_name("turns_cases.yaml")
VIDEOS = {letter: f"video_{letter.lower() * 32}" for letter in "ABC"}
IMAGES = {letter: f"img_{letter.lower() * 32}" for letter in "DE"}
SIGNER = LinkSigner(b"turns-test-key-0123456789abcdef")
BASE_URL = "http://127.0.0.1:8000"
API_KEY = "sk-turns-test"
FAULTS = ("ok", "invalid_json", "wrong_types", "not_found", "length", "slow", "server_error")
_VIDEO_ID = re.compile(r"\bvideo_[0-9a-f]{32}\b")


def image_url(number: int) -> str:
    """A distinct (tiny, not decoded) PNG data URL per number."""
    return "data:image/png;base64," + base64.b64encode(f"png-{number}".encode()).decode()


def sorakit_answer(spec: dict[str, Any]) -> str:
    """An answer of the chat facade for a finished video, as `routes/chat.py` writes it."""
    video = VIDEOS[spec["video"]]
    what = f"remix of {VIDEOS[spec['remix_of']]}" if spec.get("remix_of") else "video"
    intro = f"Creating {what} {video} with {spec['model']}: {spec['seconds']} s, {spec['size']}."
    return f"{intro}\n\n{ready(video)}"


def ready(work_id: str, *, kind: str = "video", forged: bool = False) -> str:
    link = BASE_URL + SIGNER.path(work_id, kind=kind)  # type: ignore[arg-type]
    if forged:
        link = link[:-8] + "00000000"
    what = "storyboard" if kind == "pipeline" else "video"
    return (
        f"Your {what} is ready: [{work_id}.mp4]({link}) (the link works for 24 hours).\n\n"
        f'<video src="{link.replace("&", "&amp;")}" controls></video>'
    )


def _history(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    images = 0
    for step in steps:
        ((kind, value),) = step.items()
        if kind == "user" and isinstance(value, str):
            messages.append({"role": "user", "content": value})
        elif kind == "user":
            parts: list[dict[str, Any]] = [{"type": "text", "text": value["text"]}]
            for _ in range(value.get("images", 0)):
                images += 1
                parts.append({"type": "image_url", "image_url": {"url": image_url(images)}})
            messages.append({"role": "user", "content": parts})
        elif kind == "sorakit":
            messages.append({"role": "assistant", "content": sorakit_answer(value)})
        elif kind == "link":
            text = ready(VIDEOS[value["video"]], forged=value.get("forged", False))
            messages.append({"role": "assistant", "content": text})
        elif kind == "image":  # an image answer, as `gateway/chat_images.py` writes it
            image = IMAGES[value["image"]]
            link = BASE_URL + SIGNER.path(image, kind="image")
            text = (
                f"Creating image {image} with {value['model']}: {value['size']}.\n\n"
                f"Your image is ready (the links work for 24 hours):\n\n![{image}.png]({link})"
            )
            messages.append({"role": "assistant", "content": text})
        elif kind == "storyboard":
            intro = (
                f"Creating storyboard {value['pipeline']} with {value['model']}: 2 shots "
                f"(4 s, 4 s), 8 s in all, {value['size']}."
            )
            text = f"{intro}\n\n{ready(value['pipeline'], kind='pipeline')}"
            messages.append({"role": "assistant", "content": text})
        else:
            messages.append({"role": kind, "content": value})
    return messages


@dataclass
class Case:
    """One written request and what it should be understood as."""

    number: int
    say: str
    expect: dict[str, Any]
    history: str | None = None
    model: str = "sora-2"
    images: int = 0
    seconds: int | None = None
    size: str | None = None
    offline_miss: bool = False
    set: str = "first"
    """`first` (written with the parser), `second` (after it was first tuned), `unseen`."""
    earlier: list[dict[str, Any]] = field(default_factory=list)
    chat: dict[str, Any] = field(default_factory=dict)
    """What the fake chat model answers where `expect` does not say (`chat_answer`)."""

    @property
    def id(self) -> str:
        return f"{self.number:03d}-{re.sub(r'[^a-z0-9]+', '-', self.say.lower())[:40].strip('-')}"

    @property
    def intent(self) -> str:
        return str(self.expect["intent"])

    def messages(self) -> list[dict[str, Any]]:
        earlier = _history(self.earlier)
        if not self.images:
            return [*earlier, {"role": "user", "content": self.say}]
        first = 1 + sum(
            len([p for p in m["content"] if p.get("type") == "image_url"])
            for m in earlier
            if m["role"] == "user" and isinstance(m["content"], list)
        )
        parts: list[dict[str, Any]] = [{"type": "text", "text": self.say}]
        for number in range(first, first + self.images):
            parts.append({"type": "image_url", "image_url": {"url": image_url(number)}})
        return [*earlier, {"role": "user", "content": parts}]

    def earlier_images(self) -> list[str]:
        return [
            part["image_url"]["url"]
            for message in _history(self.earlier)
            if message["role"] == "user" and isinstance(message["content"], list)
            for part in message["content"]
            if part.get("type") == "image_url"
        ]


def load_cases() -> list[Case]:
    data = yaml.safe_load(CASES_FILE.read_text())
    histories = data["histories"]
    cases = []
    for number, raw in enumerate(data["cases"], 1):
        history = raw.get("history")
        cases.append(
            Case(
                number=number,
                say=raw["say"],
                expect=raw["expect"],
                history=history,
                model=raw.get("model", "sora-2"),
                images=raw.get("images", 0),
                seconds=raw.get("seconds"),
                size=raw.get("size"),
                offline_miss=raw.get("offline") == "miss",
                set=raw.get("set", "first"),
                earlier=histories[history] if history else [],
                chat=raw.get("chat", {}),
            )
        )
    return cases


def _norm(text: str) -> str:
    return " ".join(text.lower().strip(" .,!?;:").split())


def problems(case: Case, turn: Turn | None, error: Exception | None = None) -> list[str]:
    """What `turn` (or the refusal `error`) gets wrong about `case`; [] when all is right."""
    want = case.expect
    if "error" in want:
        if not isinstance(error, InvalidRequestError):
            return [f"expected a refusal with {want['error']!r}, got {turn or error!r}"]
        return [] if want["error"].lower() in error.message.lower() else [f"refusal {error}"]
    if turn is None:
        return [f"refused: {error}"]
    return _field_problems(case, turn) + _note_problems(want, turn)


def _expected(case: Case, turn: Turn) -> dict[str, tuple[object, object]]:
    """Each field `case` says something about: (what `turn` has, what is expected)."""
    want = case.expect
    pairs: dict[str, tuple[object, object]] = {"intent": (turn.intent, want["intent"])}
    if "prompt" in want:
        pairs["prompt"] = (_norm(turn.prompt), _norm(want["prompt"]))
    for name in ("seconds", "size", "takes", "model"):
        if name in want:
            pairs[name] = (getattr(turn, name), want[name])
    if "seconds_asked" in want:
        pairs["seconds_asked"] = (turn.seconds_asked, float(want["seconds_asked"]))
    if "size_asked" in want:
        pairs["size_asked"] = ((turn.size_asked or "").lower(), str(want["size_asked"]).lower())
    if "video" in want:
        pairs["video"] = (turn.video_id, VIDEOS[want["video"]])
    if "image" in want:
        earlier: list[str | None] = [*case.earlier_images()] or [None]
        which = {"none": None, "latest": earlier[-1], "first": earlier[0]}
        pairs["image"] = (turn.reused_image, which[want["image"]])
    if "made" in want:
        pairs["made"] = (turn.made_image, IMAGES.get(want["made"]))
    if "segments" in want:
        pairs["segments"] = (list(turn.segments), want["segments"])
    if "shots" in want:
        got = [shot.seconds for shot in turn.shots]
        asked = want["shots"]
        pairs["shots"] = (got, [g if a is None else a for g, a in zip(got, asked, strict=False)])
        pairs["shot count"] = (len(got), len(asked))
    return pairs


def _field_problems(case: Case, turn: Turn) -> list[str]:
    return [
        f"{name}: got {got!r}, expected {expected!r}"
        for name, (got, expected) in _expected(case, turn).items()
        if got != expected
    ]


def _note_problems(want: dict[str, Any], turn: Turn) -> list[str]:
    notes = " | ".join(turn.notes)
    found = [
        f"no note with {piece!r} in: {notes or '(none)'}"
        for piece in want.get("notes", [])
        if piece.lower() not in notes.lower()
    ]
    if want.get("quiet") and turn.notes:
        found.append(f"expected no notes, got: {notes}")
    return found


def chat_message(case: Case) -> str:
    """The message text the chat model is sent for `case` (video ids taken out)."""
    return " ".join(_VIDEO_ID.sub(" ", case.say).split())


def chat_facts(case: Case) -> dict[str, Any]:
    """What the chat model is told about `case`'s conversation (its user message's JSON)."""
    conversation = read_conversation(case.messages(), SIGNER)
    facts: dict[str, Any] = {
        "message": chat_message(case),
        "earlier_video": conversation.latest is not None and not conversation.image_is_newer,
        "images_in_this_message": len(conversation.images),
        "images_in_earlier_messages": len(conversation.earlier_images),
    }
    if conversation.image_is_newer:
        facts["earlier_image_made"] = True
    return facts


def _key(facts: dict[str, Any]) -> str:
    return json.dumps(facts, sort_keys=True)


def chat_answer(case: Case) -> dict[str, Any]:
    """What a chat model that reads `case` well answers: its literal asks, as the schema has it."""
    want = case.expect
    intent = want["intent"]
    said_id = _VIDEO_ID.search(case.say) is not None
    shots = [
        {"prompt": f"shot {number}", "seconds": seconds}
        for number, seconds in enumerate(want.get("shots", []), 1)
    ]
    vague = want.get("vague", False)
    takes = want.get("takes_asked", want.get("takes"))
    if vague or (takes or 1) < 2:
        takes = None
    prompt = want.get("prompt")
    if prompt is None:
        only_image = any("brought to life" in note for note in want.get("notes", []))
        prompt = "" if "error" in want or only_image or intent == "extend" else case.say
    answer = {
        "intent": intent,
        "prompt": prompt,
        "seconds": want.get("seconds_asked"),
        "size": want.get("size_asked"),
        "takes": takes,
        "refers_to_earlier_video": intent in ("remix", "extend") and not said_id,
        "reuse_earlier_image": want.get("image", "no") if want.get("image") != "none" else "no",
        "shots": shots,
    }
    return {**answer, **case.chat}


@dataclass
class FakeTurnModel:
    """The fake chat model: answers by message, faults by message or by a script."""

    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    """`chat_facts` as sorted JSON -> the answer."""
    faults: dict[str, str] = field(default_factory=dict)
    """Message -> fault mode for that message."""
    script: list[str] = field(default_factory=list)
    """Fault modes for the next requests, one each (before `faults`)."""
    model: str = "gpt-turns-test"
    slow_seconds: float = 3.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def completions(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return _error(401, "Incorrect API key provided.", "invalid_request_error")
        body = await request.json()
        with self._lock:
            self.requests.append(body)
            mode = self.script.pop(0) if self.script else None
        problem = _check_body(body)
        if problem is None and (body.get("response_format") or {}).get("type") != "json_schema":
            problem = "This fake answers structured outputs only."
        if problem is not None:
            return _error(400, problem, "invalid_request_error", param="response_format")
        facts = json.loads(body["messages"][-1]["content"])
        message = facts["message"]
        mode = mode or self.faults.get(message, "ok")
        if mode == "not_found" or body["model"] != self.model:
            return _error(
                404,
                f"The model `{body['model']}` does not exist or you do not have access to it.",
                "invalid_request_error",
                code="model_not_found",
            )
        if mode == "server_error":
            return _error(500, "The server had an error processing your request.", "server_error")
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        answer = self.answers.get(_key(facts)) or _unknown(message)
        content = json.dumps(answer)
        reply = _completion(body, content)
        if mode == "invalid_json":
            reply["choices"][0]["message"]["content"] = content[: len(content) // 2]
        elif mode == "wrong_types":
            wrong = {**answer, "seconds": "seven", "takes": "a few", "shots": None}
            reply["choices"][0]["message"]["content"] = json.dumps(wrong)
        elif mode == "length":
            reply["choices"][0]["message"]["content"] = content[:40]
            reply["choices"][0]["finish_reason"] = "length"
        return JSONResponse(reply)


def _unknown(message: str) -> dict[str, Any]:
    return {
        "intent": "generate",
        "prompt": message,
        "seconds": None,
        "size": None,
        "takes": None,
        "refers_to_earlier_video": False,
        "reuse_earlier_image": "no",
        "shots": [],
    }


def fake_for(cases: list[Case], **kwargs: Any) -> FakeTurnModel:
    """A fake that knows every case's answer (by the message and what it is told around it)."""
    answers: dict[str, dict[str, Any]] = {}
    for case in cases:
        key, answer = _key(chat_facts(case)), chat_answer(case)
        if answers.setdefault(key, answer) != answer:
            raise ValueError(f"case {case.number} reads the same as another but answers otherwise")
    return FakeTurnModel(answers=answers, **kwargs)


@contextmanager
def serve_turn_model(fake: FakeTurnModel) -> Iterator[str]:
    """Run `fake` on loopback; yields its base URL (ending in `/v1`)."""
    app = Starlette(routes=[Route("/v1/chat/completions", fake.completions, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    with ThreadedServer(config).running() as url:
        yield f"{url}/v1"
