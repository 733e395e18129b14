"""The Create page's strict toggle, typed seconds and sizes, and the inputs each model takes."""

from __future__ import annotations

import re

from tests.studio.test_create import HTMX, Studio, _create


def test_strict_snaps_a_value_the_model_lacks_and_the_job_says_so(studio: Studio) -> None:
    with studio() as client:
        status, panel = _create(client, other_seconds="5", strict="on")
        assert status == 200, panel
        assert 'data-seconds="8"' in panel  # sora-2 allows 4, 8, 12, 16 and 20: 5 goes up
        assert "Adjusted: seconds 5 -&gt; 8" in panel
        status, panel = _create(client, other_size="1000x600", strict="on")
        assert status == 200 and "1280x720" in panel
        assert "Adjusted: size 1000x600 -&gt; 1280x720" in panel


def test_off_sends_the_value_as_asked_and_the_refusal_lists_the_allowed(studio: Studio) -> None:
    with studio() as client:
        status, text = _create(client, other_seconds="5")
        assert status == 400
        assert "<code>4</code>, <code>8</code>, <code>12</code>" in text
        status, text = _create(client, other_size="1000x600")
        assert status == 400 and "<code>720x1280</code>, <code>1280x720</code>" in text
        assert client.get("/v1/videos").json()["data"] == []


def test_the_choices_show_the_adjustment_or_the_refusal_before_the_button(studio: Studio) -> None:
    with studio() as client:
        params = {"model": "sora-2", "seconds": "4", "size": "1280x720", "other_seconds": "5"}
        snapped = client.get("/create/choices", params=params | {"strict": "on"}, headers=HTMX)
        assert snapped.status_code == 200
        assert snapped.headers["hx-trigger-after-settle"] == "choices-changed"
        assert 'name="strict" value="on" data-choices checked' in snapped.text
        assert "Adjusted: seconds 5 -&gt; 8" in snapped.text
        assert '<strong id="estimate">$0.80</strong>' in snapped.text  # 8 s x $0.10
        asked = client.get("/create/choices", params=params, headers=HTMX)
        assert "data-choices checked" not in asked.text
        assert (
            "sora-2 allows &#39;4&#39;, &#39;8&#39;" in asked.text and 'role="alert"' in asked.text
        )
        assert '<strong id="estimate">—</strong>' in asked.text


def test_strict_keeps_the_last_models_length_as_near_as_the_next_allows(studio: Studio) -> None:
    with studio() as client:
        params = {"model": "fal/veo-3.1", "seconds": "12", "size": "720x1280"}
        strict = client.get("/create/choices", params=params | {"strict": "on"}).text
        assert 'value="8" selected' in strict  # 12 s is past veo's 8: the longest it has
        assert 'value="720x1280" selected' in strict
        plain = client.get("/create/choices", params=params | {"size": "1024x1792"}).text
        assert 'value="8" selected' in plain  # its default, as before
        assert 'value="1280x720" selected' in plain


def test_the_page_opens_strict_with_the_styles_and_the_drop_zone(studio: Studio) -> None:
    with studio() as client:
        page = client.get("/").text
        assert "data-choices checked" in page
        assert 'name="reference" multiple' in page and 'data-drop-into="reference"' in page
        assert 'src="/static/create.js"' in page and 'href="/static/create.css"' in page
        styles = re.findall(r'<option value="([a-z]+)">\1</option>', page)
        assert styles[:3] == ["director", "pixar", "clean"]  # the chat model's, then the looks
        assert {"anime", "noir", "watercolor"} <= set(styles)
        assert client.get("/static/create.js").headers["content-type"].startswith("text/javascript")
        assert client.get("/static/create.css").status_code == 200


def test_last_frame_and_subject_fields_only_for_models_that_take_them(studio: Studio) -> None:
    with studio() as client:

        def fields(model: str, **params: str) -> tuple[bool, bool]:
            text = client.get("/create/choices", params={"model": model, **params}).text
            return 'name="last_frame"' in text, 'name="reference_images"' in text

        assert fields("sora-2") == (False, False)
        assert fields("fal/kling-3.0-pro") == (True, False)
        assert fields("fal/seedance-2.0") == (False, True)
        assert fields("fal/veo-3.1") == (True, True)
        assert "up to 3" in client.get("/create/choices", params={"model": "fal/veo-3.1"}).text
        # Subject images without a first frame are Veo's `references` mode: 8 s, 16:9 sizes.
        moded = client.get(
            "/create/choices",
            params={"model": "veo-3.1-generate-001", "reference_images": ["[object File]"]},
        ).text
        assert re.findall(r'<option value="(\d+)"', moded) == ["8"]
        assert re.findall(r'<option value="(\d+x\d+)"', moded) == [
            "1280x720",
            "1920x1080",
            "3840x2160",
        ]


def test_the_layout_picker_appears_for_several_first_frames(studio: Studio) -> None:
    with studio() as client:
        one = client.get("/create/choices", params={"reference": ["[object File]"]}).text
        assert 'name="layout"' not in one
        two = client.get(
            "/create/choices",
            params={"reference": ["[object File]"] * 2, "layout": "Nx1"},
        ).text
        layouts = re.findall(r'<option value="([^"]+)"(?: selected)?>\1</option>', two)
        from sorakit.media.montage import LAYOUTS

        assert tuple(layouts[-len(LAYOUTS) :]) == LAYOUTS
        assert 'value="Nx1" selected' in two


def test_models_that_refuse_or_need_a_first_frame_say_so(studio: Studio) -> None:
    with studio() as client:
        fast = client.get(
            "/create/choices", params={"model": "fal/veo-3.1-fast", "reference": "[object File]"}
        ).text
        assert "takes no first-frame image" in fast
        turbo = client.get("/create/choices", params={"model": "runway/gen4_turbo"}).text
        assert "renders only from a first-frame image" in turbo
