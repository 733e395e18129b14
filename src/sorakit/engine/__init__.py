"""The engine: planning, the job runner, polling and asset archiving over the ledger."""

from sorakit.engine.engine import Engine, Owner, Step, new_video_id
from sorakit.engine.planning import FitMode, Plan, ReferenceInput
from sorakit.engine.runner import ProgressCallback

__all__ = [
    "Engine",
    "FitMode",
    "Owner",
    "Plan",
    "ProgressCallback",
    "ReferenceInput",
    "Step",
    "new_video_id",
]
