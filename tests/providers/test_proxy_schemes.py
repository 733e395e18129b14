"""A proxy that httpx cannot use is refused when it is set or at start-up, never first when a job
needs it: `SORAKIT_PROXIES` for `sorakit generate` and `sorakit serve`, a pooled credential's or a
pool's proxy through the CLI and the admin API. One line, the password masked."""

from __future__ import annotations

import collections.abc
import contextlib
import json
from pathlib import Path

import httpx
import pytest

from sorakit.security.secretbox import generate_key
from sorakit.settings import get_settings
from tests.cli.test_cli import sorakit
from tests.gateway.test_tenants import make_key

PASSWORD = "hunter2"
BAD_PROXIES = [
    f"ftp://u:{PASSWORD}@h:21",
    f"socks4://u:{PASSWORD}@10.0.0.2:1080",
    f"http://u:{PASSWORD}@10.0.0.2:3128/some/path",
    f"http://u:{PASSWORD}@10.0.0.2:99999",
    f"http://u:{PASSWORD}@[::1:3128",
]


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("proxy", [BAD_PROXIES[0], BAD_PROXIES[2]])
def test_generate_refuses_a_bad_proxy_of_a_provider_it_does_not_even_use(
    tmp_path: Path, proxy: str
) -> None:
    # The job would run on the simulator: the fal proxy is still checked before anything runs.
    env = {"SORAKIT_PROXIES": json.dumps({"fal": proxy})}
    result = sorakit("generate", "a cat", "--seconds", "4", "--out", str(tmp_path / "out"),
                     home=tmp_path / "h", env=env)  # fmt: skip
    assert result.returncode == 7, result.stderr
    line = one_line(result.stderr)
    assert line.startswith("sorakit: SORAKIT_PROXIES['fal']") and PASSWORD not in line
    assert not (tmp_path / "out").exists()


def test_a_proxy_for_no_provider_is_refused(tmp_path: Path) -> None:
    env = {"SORAKIT_PROXIES": json.dumps({"google": "http://10.0.0.2:3128"})}
    result = sorakit("generate", "a cat", "--seconds", "4", home=tmp_path / "h", env=env)
    assert result.returncode == 7
    line = one_line(result.stderr)
    assert "'google'" in line and "vertex" in line and "gemini" in line


def test_serve_refuses_a_bad_proxy_at_start(tmp_path: Path) -> None:
    env = {"SORAKIT_PROXIES": json.dumps({"runway": f"ftp://u:{PASSWORD}@h:21"})}
    result = sorakit("serve", "--port", "0", home=tmp_path / "h", env=env)
    assert result.returncode == 7, result.stderr
    line = one_line(result.stderr)
    assert "SORAKIT_PROXIES['runway']" in line and "ftp://u:***@h:21" in line
    assert PASSWORD not in result.stderr + result.stdout


@pytest.mark.parametrize("proxy", [BAD_PROXIES[0], BAD_PROXIES[4]])
def test_pools_add_refuses_a_bad_proxy(tmp_path: Path, proxy: str) -> None:
    env = {"SORAKIT_SECRET_KEY": generate_key()}
    result = sorakit("pools", "add", "fal", "--proxy", proxy, home=tmp_path, env=env,
                     stdin="id:secret\n")  # fmt: skip
    assert result.returncode == 2, result.stderr
    line = one_line(result.stderr)
    assert "proxy" in line and PASSWORD not in line
    listed = json.loads(sorakit("pools", "list", "--json", home=tmp_path, env=env).stdout)
    assert all(not p["credentials"] for p in listed if p["provider"] == "fal")


@pytest.fixture
def admin(
    tmp_path: Path, serve: collections.abc.Callable[..., contextlib.AbstractContextManager[str]]
) -> collections.abc.Iterator[httpx.Client]:
    settings = get_settings(home=tmp_path / "h", secret_key=generate_key())
    token = make_key(settings, "ops", admin=True)
    with (
        serve(settings) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client,
    ):
        yield client


def assert_bad_proxy(answer: httpx.Response) -> None:
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "proxy"
    assert PASSWORD not in answer.text


def test_the_admin_api_refuses_a_bad_proxy_when_it_is_set(admin: httpx.Client) -> None:
    good = admin.post(
        "/admin/pools/fal/credentials",
        json={"secret": "id:secret", "proxy": "socks5://u:p@10.0.0.2:1080"},
    )
    assert good.status_code == 200, good.text
    credential = good.json()["id"]
    for proxy in BAD_PROXIES:
        assert_bad_proxy(
            admin.post("/admin/pools/fal/credentials", json={"secret": "k:s", "proxy": proxy})
        )
        assert_bad_proxy(
            admin.patch(f"/admin/pools/fal/credentials/{credential}", json={"proxy": proxy})
        )
        assert_bad_proxy(admin.put("/admin/pools/fal", json={"proxy": proxy}))
    fal = [p for p in admin.get("/admin/pools").json()["data"] if p["provider"] == "fal"]
    assert [c["id"] for c in fal[0]["credentials"]] == [credential]
