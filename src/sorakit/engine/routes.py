"""Where a pipeline's models go, kept with the pipeline (`spec["routes"]`), so the steps a later
run makes (`sorakit jobs resume`, from any process) go to the provider and server that the first
run's steps went to, whatever the settings and aliases say by then.

A model's route is the catalog entry its name resolved to when the pipeline was recorded (its
provider and provider model, and whether an operator's alias sent it there) and the option that
binds a job to that server (`engine.endpoints`: the server's settings and where its key came from,
a key handed in sealed or asked for again, never kept in the clear). Without `--base-url` today,
`sora-2` routes to the simulator: a pipeline started with one still makes its missing steps on
that server, or refuses in one line asking for its key; it never quietly renders elsewhere. A
pipeline recorded before routes were kept has none: its steps go where the settings say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sorakit.catalog import Catalog, ModelEntry
from sorakit.catalog.sora import sora_models
from sorakit.engine.endpoints import ENDPOINT_OPTION, Endpoint, endpoint_key
from sorakit.engine.images import require_output
from sorakit.engine.upstream import UpstreamPools
from sorakit.errors import ConfigurationError, NotFoundError
from sorakit.ledger import Ledger, PipelineRecord

if TYPE_CHECKING:
    from sorakit.engine.engine import Step

ROUTES = "routes"
"""The pipeline spec's key for its routes: model name -> `Route.data()`."""


@dataclass(frozen=True)
class Route:
    """The entry a model name resolved to for a pipeline, and the option binding its jobs."""

    provider: str
    provider_model: str
    aliased: bool
    binding: Mapping[str, Any]
    """`{"endpoint": …}` for a server kept with the job; empty for none (the simulator, a pool)."""

    def data(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "provider_model": self.provider_model,
            "aliased": self.aliased,
            "binding": dict(self.binding),
        }

    @classmethod
    def of(cls, pipeline: PipelineRecord, model: str) -> Route | None:
        """The route the pipeline recorded for a model (None: none was recorded)."""
        data = (pipeline.spec.get(ROUTES) or {}).get(model)
        if not isinstance(data, dict):
            return None
        return cls(
            str(data["provider"]),
            str(data["provider_model"]),
            bool(data.get("aliased")),
            dict(data.get("binding") or {}),
        )


class PipelineRoutes:
    """Records a new pipeline's routes, and routes its steps' models by them."""

    def __init__(
        self, catalog: Callable[[], Catalog], upstream: UpstreamPools, ledger: Ledger
    ) -> None:
        self._catalog = catalog  # the engine's, read when used: it may be swapped
        self.upstream = upstream
        self.ledger = ledger

    @property
    def catalog(self) -> Catalog:
        return self._catalog()

    async def record(self, models: Iterable[str]) -> dict[str, Any]:
        """The spec entry of a new pipeline whose steps make videos of `models`; a refusal (a
        provider with no credential) comes here, before the pipeline is recorded."""
        routes = {}
        for model in dict.fromkeys(models):
            entry, aliased = self.catalog.route(model)
            require_output(entry, model, "video")  # refused before the pipeline is recorded
            binding = await self.upstream.bind(entry.provider)
            routes[model] = Route(entry.provider, entry.provider_model, aliased, binding).data()
        return {ROUTES: routes}

    def entry(self, pipeline: PipelineRecord, model: str) -> tuple[ModelEntry, bool]:
        """The entry serving a pipeline's model, and whether an alias routed it there."""
        route = Route.of(pipeline, model)
        if route is None:
            return self.catalog.route(model)
        return self._entry(model, route), route.aliased

    async def route(self, model: str, step: Step | None) -> tuple[ModelEntry, bool, dict[str, Any]]:
        """The entry serving a new job's model, whether an alias routed it there, and the
        options binding it to its server: for a pipeline's step, those its pipeline recorded."""
        pipeline = await self._pipeline(step)
        route = Route.of(pipeline, model) if pipeline is not None else None
        if pipeline is None or route is None:
            entry, aliased = self.catalog.route(model)
            return entry, aliased, {}
        endpoint = Endpoint.from_option(route.provider, route.binding.get(ENDPOINT_OPTION))
        if endpoint is not None and not self.upstream.providers.given(route.provider):
            # Found now, so a step whose key is missing is refused before its row exists.
            what = f"pipeline {pipeline.id}"
            endpoint_key(what, endpoint, self.upstream.settings, lambda: self.upstream.box)
        return self._entry(model, route), route.aliased, dict(route.binding)

    async def _pipeline(self, step: Step | None) -> PipelineRecord | None:
        if step is None:
            return None
        try:
            return await self.ledger.get_pipeline(step.pipeline_id)
        except NotFoundError:  # a step named by a caller, outside any recorded pipeline
            return None

    def _entry(self, model: str, route: Route) -> ModelEntry:
        """The recorded entry: in today's catalog, else among the Sora entries its provider
        serves when the settings name that provider's server (`sora_provider`)."""
        for entry in self.catalog:
            if (entry.provider, entry.provider_model) == (route.provider, route.provider_model):
                return entry
        for entry in sora_models(route.provider):
            if entry.provider_model == route.provider_model:
                return self.catalog.overrides.reprice(entry)  # today's prices
        raise ConfigurationError(
            f"this pipeline's {model} went to {route.provider} ({route.provider_model}), which "
            "this sorakit no longer serves"
        )
