"""The broker probe: checks broker reachability on a schedule and reports it to health."""

from __future__ import annotations

from arduino_trader.adapters.broker_factory import probe_broker
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.messages import ComponentStatus, JobOutcome, RunJob
from arduino_trader.protocols.runtime import ActorUnavailable

from .base import HEALTH_ACTOR, ActorContext, BaseActor, handles

PROBE_TIMEOUT_S = 60.0

JOBS: tuple[JobSpec, ...] = (
    JobSpec("broker_probe", "broker_probe", "Probe the broker (Tradernet GetAllUserTexInfo "
            "or the paper broker) and report reachability to the health monitor",
            every_minutes_key="job_broker_probe_minutes", timeout_s=PROBE_TIMEOUT_S + 10,
            run_at_startup=True),
)


class BrokerProbeActor(BaseActor):
    """Runs the ``broker_probe`` job: one real probe, one :class:`ComponentStatus`."""

    name = "broker_probe"
    needs = ("broker",)
    ctx: ActorContext

    @handles(RunJob)
    def _on_run(self, msg: RunJob) -> JobOutcome:
        if msg.job != "broker_probe":
            return JobOutcome(False, f"broker_probe does not run job {msg.job!r}")
        broker = self.ctx.deps.broker
        try:
            connected, message = self.ctx.io.run(probe_broker(broker, PROBE_TIMEOUT_S),
                                                 PROBE_TIMEOUT_S + 5)
        except TimeoutError:
            connected, message = False, "probe timed out"
        status = ComponentStatus("broker", "ok" if connected else "degraded", message,
                                 self.ctx.clock.now())
        try:
            self.ctx.bus.tell(HEALTH_ACTOR, status)
        except ActorUnavailable:
            pass
        return JobOutcome(connected, message, {"connected": connected})
