"""Chat completions read no server file: not through `image_url`, nor through a storyboard."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sorakit.server.routes import chat
from sorakit.server.routes.videos import data_url
from sorakit.settings import Settings
from tests.cli.test_cli import sorakit
from tests.gateway.test_chat import ask, gateway, png, video_of
from tests.gateway.test_tenants import client, make_key


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat, "POLL_SECONDS", 0.05)


def archived_reference(settings: Settings, url: str, token: str) -> Path:
    """The key makes a video from a private frame; the path of the copy archived beside it."""
    parts = [
        {"type": "text", "text": "my private cat"},
        {"type": "image_url", "image_url": {"url": data_url(png(), "image/png")}},
    ]
    video_id = video_of(ask(client(url, token), "sora-2", parts))
    (archived,) = (settings.assets_dir / video_id).glob("reference.*")
    return archived


def test_an_image_url_naming_a_server_file_is_refused_alike_whether_it_exists(
    settings: Settings,
) -> None:
    alice, bob = make_key(settings, "alice"), make_key(settings, "bob")
    with gateway(settings) as url:
        archived = archived_reference(settings, url, alice)
        names = (
            str(archived),
            str(archived.with_name("nothing-here.png")),
            f"file://{archived}",
            f"FILE://{archived}",
            str(Path("..") / archived.relative_to(settings.home.parent)),
        )
        bodies = set()
        for name in names:
            answer = httpx.post(
                f"{url}/chat/completions",
                headers={"authorization": f"Bearer {bob}"},
                json={
                    "model": "sora-2",
                    "messages": [
                        {
                            "role": "user",
                            "content": [
                                {"type": "text", "text": "mine now"},
                                {"type": "image_url", "image_url": {"url": name}},
                            ],
                        }
                    ],
                },
            )
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"]["type"] == "invalid_request_error"
            bodies.add(answer.content)
        # One answer for every name: it tells nothing of which files exist, nor repeats them.
        assert len(bodies) == 1, bodies
        assert str(archived.parent) not in bodies.pop().decode()
        assert client(url, bob).videos.list().data == []

        # Schemes are case-insensitive: an upper-case data URL is an image like any other.
        shouted = data_url(png(), "image/png").replace("data:", "DATA:", 1)
        parts = [
            {"type": "text", "text": "a cat"},
            {"type": "image_url", "image_url": {"url": shouted}},
        ]
        made = video_of(ask(client(url, bob), "sora-2", parts))
        assert list((settings.assets_dir / made).glob("reference.*"))


def test_a_storyboard_in_chat_is_text_and_reads_no_files(
    settings: Settings, tmp_path: Path
) -> None:
    private = tmp_path / "private.png"  # a file on the server (no video id in its path)
    private.write_bytes(png())
    with gateway(settings) as url:
        # Written as a YAML storyboard file would be: over chat it is only ever `[Ns]` text.
        board = (
            f"template: \"{{% include '{private}' %}} {{{{ prompt }}}}\"\n"
            "scenes:\n"
            "  - prompt: a hall, [1.5s] a door opens\n"
            f"    reference: {private}\n"
        )
        sdk = client(url, make_key(settings, "bob"))
        assert "Your storyboard is ready" in ask(sdk, "sora2-landscape", board)
        (shot,) = sdk.videos.list().data
        # The YAML is the shot's words, not instructions: no reference, no included file.
        assert f"reference: {private}" in (shot.prompt or "")
        assert not list((settings.assets_dir / shot.id).glob("reference.*"))


def test_a_storyboard_template_may_not_include_files(isolated_env: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the server's secret")
    board = tmp_path / "board.yaml"
    board.write_text(
        f"template: \"{{% include '{secret}' %}} {{{{ prompt }}}}\"\n"
        "scenes:\n  - prompt: a cat\n    seconds: 4\n"
    )
    result = sorakit("storyboard", str(board), home=isolated_env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "may not include, import or extend other templates" in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
