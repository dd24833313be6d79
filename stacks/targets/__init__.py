"""Targets as a family: each target is one package that sizes, bills, checks its rules and names
its builder, behind one small interface; TARGETS is the registry the decision loops over.

Layers (imports run one way; tests/test_layering.py enforces it):

    commands  ->  targets  ->  decision  ->  profile  ->  price book, limit book, errors
                  (+ builders: stacks/aws, stacks/k8s)

The interface (stacks/decision/target.py `TargetModel`, extended in stacks/targets/base.py
`TargetSpec`), one instance per target:

    target: Target      the profile's `target:` value (stacks/profile/model.py) and the Option's key
    label: str          the platform in sentences: "Lambda ruled out by gpu"
    tie_rank: int       on equal bills the lower rank wins (kubernetes 0, serverless 1,
                        managed-instances 2, hybrid 3)
    builder: Builder    the module that builds it (stacks.aws.app, stacks.k8s.program), its outputs
    size(profile, settings) -> sizing model (a frozen pydantic model of the target's own)
    bill(profile, sizing, settings) -> Cost (stacks/decision/cost.py `Bill` builds its lines)
    variant(sizing) -> str | None, alternatives(profile, sizing, settings) -> {variant: Cost}
    limits(facts) -> [Reason]   a fired `limit.*` rules the target out (an explicit target is refused),
                                a fired `sla.*` misses the SLA (auto skips it; explicit warns)
    rules(facts) -> [Reason]    explains the sizing; may append to facts.warnings
    when_chosen(option) -> [str]   warnings that matter only once it is the target
    describe(w), placement(w), owns(w)   what `plan` prints and `plan --json` lists under <target>
    key_figures(w) -> {str: value}       what the plan lock records for it
    fleet_problems(workloads)            limits of a plan's whole batch (e.g. a shared quota)

The decision sizes and bills every target, runs every target's limits, the shared traffic rules,
every target's rules, compares the bills and chooses: `auto` takes the cheapest feasible option.
It never names a target; commands loop over TARGETS.

Adding a target (e.g. managed-instances, hybrid):
  1. a value in `Target` (stacks/profile/model.py); the JSON Schema follows (`switchyard schema`);
  2. a package stacks/targets/<name>/ with its sizing, bill, limits and rules, and a class built on
     `BaseTarget` implementing the interface above (a hybrid composes the existing builders);
  3. one row in TARGETS below. Its order is the order of the options in plans, reasons and JSON.
"""

from __future__ import annotations

from stacks.decision.decide import decide as decide_over
from stacks.decision.workload import Workload
from stacks.profile import Target
from stacks.profile.loader import LoadedProfile
from stacks.targets.base import TargetSpec
from stacks.targets.hybrid import HYBRID
from stacks.targets.kubernetes import KUBERNETES
from stacks.targets.managed_instances import MANAGED_INSTANCES
from stacks.targets.serverless import SERVERLESS

TARGETS: tuple[TargetSpec, ...] = (SERVERLESS, KUBERNETES, MANAGED_INSTANCES, HYBRID)
BY_TARGET: dict[Target, TargetSpec] = {t.target: t for t in TARGETS}


def decide(loaded: LoadedProfile) -> Workload:
    """The decision over every registered target."""
    return decide_over(loaded, TARGETS)
