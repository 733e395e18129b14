"""Storyboards: scenes with their own prompt, length, model, size, reference and transition.

Two ways to write one:

- sora2api's text syntax, `[5s] a cat jumps [8.5s] it lands`: each `[Ns]` tag (`N` may have
  decimals, whitespace and newlines between shots do not matter) starts a shot. Text before the
  first tag is not an error: it is the storyboard's *style*, put before every shot's prompt (as
  sora2api sends it as the storyboard's instructions), so `{anime}` up front styles every shot.
- a YAML or JSON file, ImageAI-style: top-level defaults (`title`, `model`, `size`, `seconds`,
  `style`, `transition`, `template`, `vars`) and a `scenes:` list whose entries override them
  (`prompt`, `seconds`, `model`, `size`, `reference`, `transition`, `style`, `template`, `vars`,
  `title`). A scene may be a plain string (its prompt); the file may be the list alone. Unknown
  keys are errors, named with their line, so a typo never renders silently.

A scene's `transition` is how it joins the scene before it: `cut` (the default) or `crossfade`
(`{type: crossfade, seconds: 0.75}`, 0.5 s when no length is given); the first scene's is a cut.
`reference` is an image path, relative to the storyboard file.

Prompts: without a template a shot's prompt is the style followed by the scene's prompt. A
`template` is Jinja2 in a sandbox with strict undefined variables, rendered per shot with the
scene's `vars` over the storyboard's and the reserved names `prompt`, `style`, `seconds`, `scene`,
`part`, `parts`, `model`, `size` and `title`; a template that would drop a non-empty style is
refused. Style tags (`sorakit.pipelines.styles`) are applied to the rendered text.

`plan_shots` makes scenes concrete: each render length snaps up to an allowed clip length and
`trim_to` keeps the intended length, so stitching trims the shot back. A scene longer than the
model's longest clip is split (by default) into the clips `segments.cover_seconds` picks (the
fewest, then the least overshoot); its later parts `continue` the first (start from its last frame, joined by a cut), and
the last part is trimmed. With `split=False` such a scene is refused instead.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jinja2
import yaml
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from sorakit.catalog.capabilities import ModelCapabilities, request_mode
from sorakit.engine.planning import check_prompt, resolve_size
from sorakit.errors import InvalidRequestError
from sorakit.pipelines.segments import MAX_TOTAL_SECONDS, cover_seconds
from sorakit.pipelines.styles import apply_styles

DEFAULT_CROSSFADE = 0.5
RESERVED_VARS = frozenset(
    {"prompt", "style", "seconds", "scene", "part", "parts", "model", "size", "title"}
)
_TOP_KEYS = ("title", "model", "size", "seconds", "style", "transition", "template", "vars")
_SCENE_KEYS = (*_TOP_KEYS[:-1], "vars", "prompt", "reference")
_TAG = re.compile(r"\[\s*(\d+(?:\.\d+)?)\s*s\s*\]", re.IGNORECASE)
_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*s?\s*$", re.IGNORECASE)
_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


class _Loader(yaml.SafeLoader):
    """YAML 1.1 without base-60 integers, so `size: 16:9` stays the text `16:9`, not 969."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:int"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)


@dataclass(frozen=True)
class Transition:
    """How a scene joins the one before it."""

    kind: Literal["cut", "crossfade"] = "cut"
    seconds: float = 0.0
    """The crossfade's length; 0 for a cut."""


CUT = Transition()


@dataclass(frozen=True)
class Scene:
    """One scene, with the storyboard's defaults already applied."""

    prompt: str
    seconds: float | None = None
    """The intended length; None for the model's default."""
    model: str | None = None
    size: str | None = None
    """A `WxH` size, a ratio such as `16:9`, or `landscape`/`portrait`; snapped when planned."""
    reference: Path | None = None
    transition: Transition = CUT
    style: str | None = None
    template: str | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    title: str | None = None
    line: int | None = None
    """Where the scene starts in its source, for messages."""


@dataclass(frozen=True)
class Storyboard:
    """Scenes in order, and where they came from."""

    scenes: list[Scene]
    title: str | None = None
    source: Path | None = None


@dataclass(frozen=True)
class Shot:
    """One clip to render: a scene, or one part of a scene longer than the longest clip."""

    scene: int
    """The scene's index in the storyboard (0-based)."""
    part: int
    parts: int
    prompt: str
    model: str
    size: str
    seconds: int
    """The render length, an allowed clip length."""
    trim_to: float
    """How much of the render to keep: the intended length (or this part's share of it)."""
    reference: Path | None = None
    transition: Transition = CUT
    styles: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()

    @property
    def continues(self) -> bool:
        """A later part of a split scene: it starts from the previous shot's last frame."""
        return self.part > 0


class _Where:
    """Names the place a value came from, for error messages."""

    def __init__(self, source: str, lines: Mapping[tuple[Any, ...], int]) -> None:
        self.source = source
        self.lines = lines

    def error(self, path: tuple[Any, ...], message: str) -> InvalidRequestError:
        line = next(
            (self.lines[path[:n]] for n in range(len(path), -1, -1) if path[:n] in self.lines), None
        )
        in_scene = len(path) >= 2 and path[0] == "scenes" and isinstance(path[1], int)
        where = f"scene {path[1] + 1}" if in_scene else ""
        if path and not (in_scene and len(path) == 2):
            where = f"{where}: {path[-1]!r}" if where else repr(path[-1])
        place = f"{self.source}" + (f" line {line}" if line else "")
        param = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
        return InvalidRequestError(
            f"{place}: {where + ' ' if where else ''}{message}", param=param or "storyboard"
        )


def _line_map(text: str) -> dict[tuple[Any, ...], int]:
    """Line numbers (1-based) of every key and item of a YAML/JSON document, by path."""
    out: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        out[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, key.value)
                walk(value, child)
                out[child] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*path, index))

    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return out
    if root is not None:
        walk(root, ())
    return out


def _seconds(value: object, where: _Where, path: tuple[Any, ...]) -> float:
    match = _SECONDS.match(value) if isinstance(value, str) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif match:
        seconds = float(match.group(1))
    else:
        raise where.error(path, f"must be a number of seconds such as 5 or 5.5, got {value!r}.")
    if not 0 < seconds <= MAX_TOTAL_SECONDS or not math.isfinite(seconds):
        raise where.error(
            path, f"must be more than 0 and at most {MAX_TOTAL_SECONDS}, got {value!r}."
        )
    return seconds


def _text(value: object, where: _Where, path: tuple[Any, ...], *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise where.error(path, f"must be a non-empty string, got {value!r}.")
    return value.strip()


def _transition(value: object, where: _Where, path: tuple[Any, ...]) -> Transition:
    kind, seconds = value, None
    if isinstance(value, Mapping):
        unknown = set(value) - {"type", "seconds"}
        if unknown:
            raise where.error(
                path, f"has unknown keys {sorted(unknown)}; use 'type' and 'seconds'."
            )
        kind, seconds = value.get("type", "crossfade"), value.get("seconds")
    if kind == "cut" and not seconds:
        return CUT
    if kind != "crossfade":
        raise where.error(path, f"must be 'cut' or 'crossfade', got {kind!r}.")
    length = DEFAULT_CROSSFADE if seconds is None else _seconds(seconds, where, (*path, "seconds"))
    return Transition("crossfade", length)


def _vars(value: object, where: _Where, path: tuple[Any, ...]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise where.error(path, f"must be a mapping of names to values, got {value!r}.")
    for name in value:
        if not isinstance(name, str) or not name.isidentifier():
            raise where.error((*path, name), "is not a valid variable name.")
        if name in RESERVED_VARS:
            raise where.error(
                (*path, name),
                f"is reserved; the reserved names are {', '.join(sorted(RESERVED_VARS))}.",
            )
    return dict(value)


def _check_template(
    template: str, style: str | None, names: Sequence[str], where: _Where, path: tuple[Any, ...]
) -> None:
    try:
        parsed = _ENV.parse(template)
    except jinja2.TemplateSyntaxError as exc:
        raise where.error(
            path, f"has a template error at its line {exc.lineno}: {exc.message}"
        ) from None
    if list(meta.find_referenced_templates(parsed)):  # no loader: templates read no files
        raise where.error(path, "may not include, import or extend other templates.")
    used = meta.find_undeclared_variables(parsed)
    known = RESERVED_VARS | set(names)
    unknown = sorted(used - known)
    if unknown:
        raise where.error(
            path,
            f"uses {', '.join(unknown)}, which {'is' if len(unknown) == 1 else 'are'} not defined; "
            f"defined: {', '.join(sorted(known))}.",
        )
    if style and "style" not in used:
        raise where.error(
            path,
            "never uses {{ style }}, so the storyboard's style would be lost; add it or set style: ''.",
        )


def _scene(
    raw: object, index: int, defaults: Mapping[str, Any], where: _Where, base: Path | None
) -> Scene:
    path: tuple[Any, ...] = ("scenes", index)
    if isinstance(raw, str):
        raw = {"prompt": raw}
    if not isinstance(raw, Mapping):
        raise where.error(
            path, f"must be a mapping with a 'prompt' (or a prompt string), got {raw!r}."
        )
    unknown = [key for key in raw if key not in _SCENE_KEYS]
    if unknown:
        raise where.error(
            (*path, unknown[0]), f"is not a scene field; the fields are {', '.join(_SCENE_KEYS)}."
        )
    if "prompt" not in raw:
        raise where.error(path, "has no 'prompt'.")
    values = {**defaults, **{k: v for k, v in raw.items() if k != "vars"}}
    scene_vars = {**defaults.get("vars", {}), **_vars(raw.get("vars", {}), where, (*path, "vars"))}

    def at(key: str) -> tuple[Any, ...]:
        return (*path, key) if key in raw else (key,)

    reference = None
    if values.get("reference") is not None:
        reference = Path(_text(values["reference"], where, at("reference"))).expanduser()
        if base is not None and not reference.is_absolute():
            reference = base / reference
        if not reference.is_file():
            raise where.error(at("reference"), f"names no file: {reference}")
    transition = CUT
    if values.get("transition") is not None:
        transition = _transition(values["transition"], where, at("transition"))
    style = values.get("style")
    style = None if style is None else _text(style, where, at("style"), empty=True) or None
    template = values.get("template")
    if template is not None:
        template = _text(template, where, at("template"))
        _check_template(template, style, list(scene_vars), where, at("template"))
    return Scene(
        prompt=_text(values["prompt"], where, at("prompt")),
        seconds=None
        if values.get("seconds") is None
        else _seconds(values["seconds"], where, at("seconds")),
        model=None if values.get("model") is None else _text(values["model"], where, at("model")),
        size=None if values.get("size") is None else _text(str(values["size"]), where, at("size")),
        reference=reference,
        transition=CUT if index == 0 else transition,
        style=style,
        template=template,
        vars=scene_vars,
        title=None if values.get("title") is None else str(values["title"]),
        line=where.lines.get(path),
    )


def parse_storyboard_data(
    data: object, *, source: str = "storyboard", base: Path | None = None, text: str | None = None
) -> Storyboard:
    """A storyboard from parsed YAML/JSON; `text` (the source) gives errors their line numbers."""
    where = _Where(source, _line_map(text) if text is not None else {})
    if isinstance(data, list):
        data = {"scenes": data}
    if not isinstance(data, Mapping):
        raise where.error(
            (), "the storyboard must be a mapping with a 'scenes' list (or the list)."
        )
    unknown = [key for key in data if key not in (*_TOP_KEYS, "scenes")]
    if unknown:
        raise where.error(
            (unknown[0],),
            f"is not a storyboard field; the fields are {', '.join((*_TOP_KEYS, 'scenes'))}.",
        )
    scenes = data.get("scenes")
    if not isinstance(scenes, list) or not scenes:
        raise where.error(("scenes",), "must be a non-empty list of scenes.")
    defaults = {key: data[key] for key in _TOP_KEYS if key in data and key not in ("title", "vars")}
    defaults["vars"] = _vars(data.get("vars", {}), where, ("vars",))
    title = data.get("title")
    built = [_scene(raw, i, defaults, where, base) for i, raw in enumerate(scenes)]
    return Storyboard(built, title=None if title is None else str(title))


def parse_storyboard_text(text: str) -> Storyboard:
    """A storyboard from sora2api's `[5s] shot … [8s] shot …` syntax."""
    tags = list(_TAG.finditer(text))
    if not tags:
        raise InvalidRequestError(
            "The storyboard has no shots: start each one with its length in brackets, "
            "as in [5s] or [5.5s].",
            param="storyboard",
        )
    style = " ".join(text[: tags[0].start()].split()) or None
    scenes = []
    for number, tag in enumerate(tags, start=1):
        end = tags[number].start() if number < len(tags) else len(text)
        prompt = " ".join(text[tag.end() : end].split())
        line = text.count("\n", 0, tag.start()) + 1
        shot = f"Shot {number} ({tag.group(0)} at line {line})"
        if not prompt:
            raise InvalidRequestError(f"{shot} has no prompt.", param="storyboard")
        seconds = float(tag.group(1))
        if not 0 < seconds <= MAX_TOTAL_SECONDS:
            raise InvalidRequestError(
                f"{shot} must last more than 0 s and at most {MAX_TOTAL_SECONDS} s.",
                param="storyboard",
            )
        scenes.append(Scene(prompt=prompt, seconds=seconds, style=style, line=line))
    return Storyboard(scenes)


def load_storyboard_file(path: str | Path) -> Storyboard:
    """A storyboard file: `.json`, `.yaml`/`.yml`, or anything else in the text syntax."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(
            f"Cannot read the storyboard {path}: {exc}", param="storyboard"
        ) from None
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        return Storyboard(parse_storyboard_text(text).scenes, source=path)
    try:
        data = json.loads(text) if suffix == ".json" else yaml.load(text, Loader=_Loader)
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(
            f"{path.name} line {exc.lineno}: not valid JSON: {exc.msg}.", param="storyboard"
        ) from None
    except RecursionError:
        raise InvalidRequestError(
            f"{path.name} nests too deeply to be a storyboard.", param="storyboard"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidRequestError(
            f"{path.name}{line}: not valid YAML: {problem}.", param="storyboard"
        ) from None
    board = parse_storyboard_data(data, source=path.name, base=path.parent, text=text)
    return Storyboard(board.scenes, title=board.title, source=path)


def load_storyboard(file_or_text: str | Path) -> Storyboard:
    """A storyboard from a file path or from text in the `[5s] …` syntax (the CLI's argument)."""
    if isinstance(file_or_text, Path):
        return load_storyboard_file(file_or_text)
    candidate = file_or_text.strip()
    if "\n" not in candidate and not _TAG.search(candidate):
        path = Path(candidate).expanduser()
        try:
            exists = path.is_file()
        except (OSError, ValueError):
            exists = False
        if exists:
            return load_storyboard_file(path)
        if path.suffix.lower() in (".json", ".yaml", ".yml", ".txt"):
            raise InvalidRequestError(f"No such storyboard file: {path}", param="storyboard")
    return parse_storyboard_text(file_or_text)


def compose_prompt(style: str | None, prompt: str) -> str:
    """The style, then the prompt, as one text."""
    if not style:
        return prompt
    joiner = " " if style[-1] in ".!?:;,}" else ". "
    return f"{style}{joiner}{prompt}"


@functools.lru_cache(maxsize=128)
def _compiled(template: str) -> jinja2.Template:
    return _ENV.from_string(template)


def _render(scene: Scene, number: int, context: Mapping[str, Any]) -> str:
    if scene.template is None:
        return compose_prompt(scene.style, scene.prompt)
    try:
        return _compiled(scene.template).render({**scene.vars, **context}).strip()
    except jinja2.TemplateError as exc:  # StrictUndefined's typos and the sandbox's refusals
        raise InvalidRequestError(
            f"scene {number}: the template failed: {exc.message or exc}", param="template"
        ) from None


def _lengths(
    intended: float, caps: ModelCapabilities, model: str, number: int, split: bool
) -> list[int]:
    """The render lengths for a scene: one clip when one is long enough, else several."""
    if intended > caps.seconds[-1] and not split:
        raise InvalidRequestError(
            f"scene {number} lasts {intended:g} s, longer than {model}'s longest clip "
            f"({caps.seconds[-1]} s); shorten it or split it into scenes.",
            param="seconds",
        )
    return cover_seconds(intended, caps.seconds)


def plan_shots(
    storyboard: Storyboard,
    caps_for: Callable[[str], ModelCapabilities],
    *,
    model: str | None = None,
    size: str | None = None,
    split: bool = True,
) -> list[Shot]:
    """The clips to render, in order; `model` and `size` stand in where a scene names none."""
    shots: list[Shot] = []
    for index, scene in enumerate(storyboard.scenes):
        number = index + 1
        name = scene.model or model
        if name is None:
            raise InvalidRequestError(
                f"scene {number} names no model; give one in the storyboard or as a default.",
                param="model",
            )
        whole = caps_for(name)
        # A scene that opens on its reference renders in the image mode, with that mode's sizes.
        caps = whole.for_mode(request_mode(first_frame=scene.reference is not None))
        changes: list[str] = []
        shot_size = resolve_size(
            scene.size or size, caps, name, snap=True, changes=changes, whole=whole
        )
        intended = scene.seconds if scene.seconds is not None else float(caps.default_seconds)
        lengths = _lengths(intended, caps, name, number, split)
        if sum(lengths) != intended:
            changes.append(
                f"{intended:g} s renders as {' + '.join(map(str, lengths))} s, trimmed to {intended:g} s"
            )
        left = intended
        for part, length in enumerate(lengths):
            keep = min(float(length), left)
            left -= keep
            context = {
                "prompt": scene.prompt,
                "style": scene.style or "",
                "seconds": intended,
                "scene": number,
                "part": part + 1,
                "parts": len(lengths),
                "model": name,
                "size": shot_size,
                "title": scene.title or "",
            }
            prompt, styles = apply_styles(_render(scene, number, context))
            check_prompt(prompt)
            transition = scene.transition if part == 0 else CUT
            if transition.kind == "crossfade":
                shortest = min(keep, shots[-1].trim_to)
                if transition.seconds >= shortest:
                    raise InvalidRequestError(
                        f"scene {number}: a crossfade of {transition.seconds:g} s does not fit "
                        f"in shots of {shortest:g} s.",
                        param="transition",
                    )
            shots.append(
                Shot(
                    scene=index,
                    part=part,
                    parts=len(lengths),
                    prompt=prompt,
                    model=name,
                    size=shot_size,
                    seconds=length,
                    trim_to=keep,
                    reference=scene.reference if part == 0 else None,
                    transition=transition,
                    styles=tuple(styles),
                    changes=tuple(changes) if part == 0 else (),
                )
            )
    return shots


def timeline_seconds(shots: Sequence[Shot]) -> float:
    """The stitched length: every shot trimmed, less the crossfades' overlaps."""
    return sum(shot.trim_to for shot in shots) - sum(shot.transition.seconds for shot in shots)
