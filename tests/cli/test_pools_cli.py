"""`sorakit pools` in a subprocess: secrets in through stdin, state out, never a secret out."""

from __future__ import annotations

import json
from pathlib import Path

from sorakit.security.secretbox import generate_key
from tests.cli.test_cli import sorakit


def test_pools_add_list_disable_enable_remove(tmp_path: Path) -> None:
    env = {"SORAKIT_SECRET_KEY": generate_key(), "FAL_KEY": "env-id:env-secret-value"}
    added = sorakit(
        "pools", "add", "fal", "--label", "second account", "--max-concurrency", "2",
        home=tmp_path, env=env, stdin="id2:a-very-secret-fal-key\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    credential_id = added.stdout.strip().splitlines()[-1]
    assert credential_id.startswith("cred_")

    listed = sorakit("pools", "list", "--json", home=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "a-very-secret-fal-key" not in listed.stdout and "env-secret-value" not in listed.stdout
    (fal,) = [p for p in json.loads(listed.stdout) if p["provider"] == "fal"]
    assert [(c["id"], c["source"], c["state"]) for c in fal["credentials"]] == [
        ("fal.env", "env", "active"),
        (credential_id, "stored", "active"),
    ]
    assert fal["credentials"][1]["max_concurrency"] == 2

    assert sorakit("pools", "disable", credential_id, home=tmp_path, env=env).returncode == 0
    disabled = json.loads(sorakit("pools", "list", "--json", home=tmp_path, env=env).stdout)
    (fal,) = [p for p in disabled if p["provider"] == "fal"]
    assert fal["credentials"][1]["state"] == "disabled"
    assert fal["credentials"][1]["disabled_reason"] == "disabled by an admin"
    assert "disabled" in sorakit("pools", "list", home=tmp_path, env=env).stdout
    assert sorakit("pools", "enable", credential_id, home=tmp_path, env=env).returncode == 0
    set_pool = sorakit("pools", "set", "fal", "--strategy", "least-loaded", home=tmp_path, env=env)
    assert set_pool.returncode == 0 and "least-loaded" in set_pool.stderr
    assert sorakit("pools", "remove", credential_id, home=tmp_path, env=env).returncode == 0
    after = json.loads(sorakit("pools", "list", "--json", home=tmp_path, env=env).stdout)
    (fal,) = [p for p in after if p["provider"] == "fal"]
    assert [c["id"] for c in fal["credentials"]] == ["fal.env"]
    assert fal["strategy"] == "least-loaded"


def test_pools_errors_are_one_line_with_a_non_zero_exit(tmp_path: Path) -> None:
    no_key = sorakit("pools", "add", "fal", home=tmp_path, stdin="k:s\n")
    assert no_key.returncode != 0
    assert no_key.stderr.strip().count("\n") == 0 and "SORAKIT_SECRET_KEY" in no_key.stderr
    env = {"SORAKIT_SECRET_KEY": generate_key()}
    bad = sorakit("pools", "add", "simulator", home=tmp_path, env=env, stdin="k\n")
    assert bad.returncode != 0 and "no credential pool" in bad.stderr
    missing = sorakit("pools", "enable", "cred_nope", home=tmp_path, env=env)
    assert missing.returncode != 0 and "cred_nope" in missing.stderr
    key = sorakit("pools", "keygen", home=tmp_path)
    assert key.returncode == 0 and len(key.stdout.strip()) == 44
