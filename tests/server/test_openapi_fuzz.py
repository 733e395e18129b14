"""schemathesis against `sorakit serve`'s own OpenAPI description: no 5xx, every error an envelope.

The server runs for real on loopback (the simulator, with a tiny render time) and schemathesis
sends generated requests to every operation that its `/openapi.json` describes, bodies included
(JSON and multipart): once with the gateway open, once with API keys (a tenant's key on the
Videos and chat API, the admin's on `/admin`). Generation is derandomized with a fixed seed, so a
run is repeatable and a failure prints the same `curl` line every time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import schemathesis
import uvicorn
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sorakit.ledger import Ledger
from sorakit.providers.simulator import SimulatorProvider
from sorakit.server import create_app
from sorakit.settings import Settings, get_settings
from tests.conftest import ThreadedServer

MAX_EXAMPLES = 25
SEED = 20260924
CALLERS = ("open", "keys")


def _published() -> dict[str, Any]:
    """The app's OpenAPI description, built at collection without starting the app."""
    # Default settings, not this process's environment: nothing in the description depends on
    # them, and the fixture checks that the served description is this one.
    return create_app(Settings.model_construct(home=Path("unused"))).openapi()


PUBLISHED = _published()
schema = schemathesis.openapi.from_dict(
    PUBLISHED,
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            # The coverage phase's boundary cases (hundreds per body) found nothing the fuzzing
            # phase missed and cost most of the run; the examples and fuzzing phases stay.
            "phases": {"coverage": {"enabled": False}},
        }
    ),
)


def error_envelope(_ctx: CheckContext, response: schemathesis.Response, case: Any) -> bool:
    """Every refusal is `{"error": {"message", "type", "param", "code"}}`, as OpenAI answers."""
    if response.status_code < 400:
        return True
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["type"], str) and error["type"], error
    assert error["param"] is None or isinstance(error["param"], str), error
    assert error["code"] is None or isinstance(error["code"], str), error
    return True


CHECKS = [not_a_server_error, error_envelope]
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]
"""For operations that document their errors: each answer is one the description lists."""


def _admin_key(settings: Settings) -> str:
    """The admin key, made in the ledger before the server starts (so it prints none)."""

    async def make() -> str:
        ledger = await Ledger.open(settings.ledger_url)
        try:
            _, token = await ledger.create_key("fuzz-admin", admin=True)
            return token
        finally:
            await ledger.close()

    return anyio.run(make)


@pytest.fixture(scope="module", params=CALLERS)
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    """A served app, and the tokens its caller sends: by path prefix, `""` for the rest."""
    home = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    settings = get_settings(
        home=home, simulator_render_seconds=0.05, public_url="http://127.0.0.1:9"
    )
    admin = _admin_key(settings) if request.param == "keys" else None
    simulator = SimulatorProvider(settings, fps=2)  # real MP4s, cheap enough to make by the dozen
    config = uvicorn.Config(
        create_app(settings, providers={"simulator": simulator}),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
    )
    with ThreadedServer(config).running() as url:
        assert httpx.get(f"{url}/openapi.json").json() == PUBLISHED  # fuzz what is published
        tokens: dict[str, str] = {}
        if admin is not None:
            made = httpx.post(
                f"{url}/admin/keys",
                json={"name": "fuzz-tenant", "budget_usd": 1000},
                headers={"Authorization": f"Bearer {admin}"},
            )
            assert made.status_code == 200, made.text
            tokens = {"/admin/": admin, "": made.json()["key"]}
        yield url, tokens


@schema.parametrize()
def test_no_operation_answers_a_server_error_or_a_bare_error(
    case: schemathesis.Case[Any], gateway: tuple[str, dict[str, str]]
) -> None:
    url, tokens = gateway
    token = next(
        (t for prefix, t in tokens.items() if case.operation.path.startswith(prefix)), None
    )
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = case.call(base_url=url, headers=headers, timeout=30)
    documented = PUBLISHED["paths"][case.operation.path][case.operation.method]["responses"]
    case.validate_response(response, checks=CHECKS + (CONFORMANCE if "4XX" in documented else []))
