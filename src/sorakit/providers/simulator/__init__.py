"""The built-in simulator: an offline Sora Videos API that renders real H.264 + AAC MP4s.

`SimulatorProvider` is the provider; `FaultPlan`, `Fault` and `FaultInjector` are the fault
injection the HTTP server reuses to put the same faults on the wire.
"""

from sorakit.providers.simulator.faults import Fault, FaultInjector, FaultPlan
from sorakit.providers.simulator.provider import SimulatorProvider

__all__ = ["Fault", "FaultInjector", "FaultPlan", "SimulatorProvider"]
