"""target: serverless: a Lambda function from a container image (SQS + DLQ for async work, S3 for
results, EFS or the image for weights, provisioned concurrency against cold starts).

    sizing.py     memory, concurrency, provisioned concurrency, the queue, cold starts
    bill.py       the monthly bill (duration tiers, requests, queue, storage, logs, alarms), and the
                  platform stack's own (interface endpoints, billed once: shared_platform_cost)
    limits.py     what rules Lambda out (limit.*) or misses the SLA (sla.latency)
    rules.py      what explains the sizing (cold starts, provisioned concurrency, weights)
    alarms.py     the alarms its stack creates; placement.py: its stacks and outputs
    fleet.py      the reserved-concurrency sum over a plan's serverless workloads
    lambda_quota.py   the account's Lambda concurrency against the plan (plan and `switchyard doctor`)
    installation.py   every global name an installation creates (stacks, parameters, metrics)
Built by stacks/aws (the CDK app in stacks/aws/app.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from stacks.decision.cost import Cost
from stacks.decision.option import Facts, Option
from stacks.decision.reason import Reason
from stacks.decision.sizing import sustained_utilization
from stacks.decision.workload import Workload
from stacks.errors import SwitchyardError
from stacks.pricebook import Platform, Settings
from stacks.profile import Profile, Target
from stacks.targets.base import BaseTarget, Builder, LockValue, MoveEnd
from stacks.targets.serverless.bill import serverless_cost
from stacks.targets.serverless.fleet import check_reserved_total
from stacks.targets.serverless.limits import LIMITS
from stacks.targets.serverless.moves import serverless_end
from stacks.targets.serverless.placement import serverless_placement
from stacks.targets.serverless.rules import INIT_LIMIT, RULES
from stacks.targets.serverless.simulation import sized_from_simulation
from stacks.targets.serverless.sizing import ServerlessSizing, serverless, serverless_sizing

__all__ = ["SERVERLESS", "Serverless", "ServerlessSizing", "serverless_sizing"]

ARCHITECTURES = ("x86_64", "arm64")


class Serverless(BaseTarget):
    target = Target.serverless
    label = "Lambda"
    tie_rank = 1  # on equal bills, held capacity wins: no cold starts, no per-request limits
    builder = Builder(
        tool="cdk",
        module="stacks.aws.app",
        outputs="cdk.out/Switchyard-<name>.template.json, build/<name>/",
        deploy="npx cdk deploy Switchyard-Platform Switchyard-<name>",
    )

    def size(self, p: Profile, settings: Settings) -> ServerlessSizing:
        """The averages' sizing, checked against its simulated burst (simulation.py) unless Lambda cannot
        run the workload at all (a `limit.*` or `sla.*` fires): nothing is sized for a target ruled out."""
        platform = settings.platform
        sized = serverless(p, platform, settings.prices)
        facts = Facts(p, settings, sized, self.bill(p, sized, settings), sustained_utilization(p), warnings=[])
        if any(r.fired and r.rule.startswith(("limit.", "sla.")) for r in self.limits(facts)):
            return sized
        reservable = max(
            1,
            platform.lambda_account_concurrency
            - platform.lambda_unreserved_concurrency
            - platform.lambda_reserved_by_others,
        )
        return sized_from_simulation(p, sized, platform, reservable)

    def bill(self, p: Profile, sizing: ServerlessSizing, settings: Settings) -> Cost:
        return serverless_cost(p, sizing, settings.prices, settings.platform)

    def variant(self, sizing: ServerlessSizing) -> str:
        return sizing.architecture

    def alternatives(self, p: Profile, sizing: ServerlessSizing, settings: Settings) -> dict[str, Cost]:
        """The same function on the other CPU architecture (the platform picks one for every function)."""
        return {
            arch: serverless_cost(p, sizing, settings.prices, settings.platform, architecture=arch)
            for arch in ARCHITECTURES
            if arch != sizing.architecture
        }

    def limits(self, f: Facts[ServerlessSizing]) -> list[Reason]:
        return [r for rule in LIMITS for r in rule(f)]

    def rules(self, f: Facts[ServerlessSizing]) -> list[Reason]:
        return [r for rule in RULES for r in rule(f)]

    def when_chosen(self, option: Option) -> list[str]:
        return [r.detail for r in option.reasons if r.rule == INIT_LIMIT and r.fired]

    def describe(self, w: Workload) -> str:
        s = serverless_sizing(w)
        parts = [
            f"{s.memory_mb:,} MB {s.architecture}",
            f"timeout {s.timeout_s} s",
            f"reserved {s.reserved_concurrency}",
        ]
        if s.provisioned:
            when = w.profile.utilization.active_window if s.pc_scheduled else "24 h"
            parts.append(f"provisioned {s.pc_min}-{s.pc_max} ({when})")
        if s.queue_max_concurrency:
            parts.append(f"queue max concurrency {s.queue_max_concurrency}")
        return ", ".join(parts)

    def placement(self, w: Workload) -> dict[str, object]:
        return serverless_placement(w.profile, serverless_sizing(w), w.settings.platform.installation)

    def owns(self, w: Workload) -> str:
        where = self.placement(w)
        reachable: dict[str, str] = where["reachable"]  # type: ignore[assignment]
        stacks: list[str] = where["stacks"]  # type: ignore[assignment]
        return f"stack {stacks[0]} (shares {where['shared']}); reachable at " + "; ".join(reachable.values())

    def key_figures(self, w: Workload) -> dict[str, LockValue]:
        s = serverless_sizing(w)
        return {
            "memory_mb": s.memory_mb,
            "architecture": s.architecture,
            "timeout_s": s.timeout_s,
            "reserved_concurrency": s.reserved_concurrency,
            "provisioned_min": s.pc_min,
            "provisioned_max": s.pc_max,
            "queue_max_concurrency": s.queue_max_concurrency,
        }

    def fleet_problems(self, workloads: Iterable[Workload]) -> list[tuple[str, SwitchyardError]]:
        return check_reserved_total(workloads)

    def move_end(self, name: str, platform: Platform) -> MoveEnd:
        return serverless_end(name, platform)


SERVERLESS = Serverless()
