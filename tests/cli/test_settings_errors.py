"""A bad setting is one line naming the variable and exit 7, never a traceback or its value."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import sorakit


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"SORAKIT_WEBHOOK_SECRET": "changeme"}, "SORAKIT_WEBHOOK_SECRET"),
        ({"SORAKIT_BUDGET_USD": "abc-not-a-number"}, "SORAKIT_BUDGET_USD"),
        ({"SORAKIT_PROXIES": '{"fal": "http://u:hunter2@h:1"'}, "SORAKIT_PROXIES"),
    ],
)
def test_a_bad_variable_is_one_line_naming_it(
    isolated_env: Path, env: dict[str, str], names: str
) -> None:
    result = sorakit("models", home=isolated_env, env=env)
    assert result.returncode == 7, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sorakit: invalid setting: "), result.stderr
    assert names in lines[0]
    assert "Traceback" not in result.stderr
    for value in env.values():  # the value may be a secret: it is never echoed
        assert value not in result.stderr and "hunter2" not in result.stderr


def test_a_bad_or_missing_settings_file_is_one_line(isolated_env: Path, tmp_path: Path) -> None:
    broken = tmp_path / "sorakit.toml"
    broken.write_text("budget_usd = [\n")
    result = sorakit("models", home=isolated_env, env={"SORAKIT_CONFIG": str(broken)})
    assert result.returncode == 7 and "is not valid TOML" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr

    missing = tmp_path / "nowhere.toml"
    result = sorakit("models", home=isolated_env, env={"SORAKIT_CONFIG": str(missing)})
    assert result.returncode == 7, result.stderr
    assert result.stderr.strip() == f"sorakit: SORAKIT_CONFIG names {missing}, which is not a file"
