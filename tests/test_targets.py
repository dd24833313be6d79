"""Targets as a family: the decision loops over whatever targets it is handed and never names one.

The registry (stacks/targets TARGETS) is what plan and synth use; these tests hand the decision
other lists, and targets whose limits or bills differ, to prove that the choice follows the
interface (limits, bills, tie_rank), not the names.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import stacks.decision
from stacks.decision.cost import Cost, LineItem
from stacks.decision.decide import decide as decide_over
from stacks.decision.reason import Reason
from stacks.errors import DecisionError
from stacks.profile import Target
from stacks.profile.loader import load_profile
from stacks.targets import BY_TARGET, TARGETS, decide
from stacks.targets.kubernetes import KUBERNETES, KubernetesSizing
from stacks.targets.serverless import SERVERLESS, ServerlessSizing, serverless_sizing
from tests.conftest import VALID


class Variant:
    """A registered target with one thing changed: everything else is the real target's."""

    def __init__(self, real: Any, **changes: Any) -> None:
        self._real = real
        self.__dict__.update(changes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def always_ruled_out(f) -> list[Reason]:
    return [Reason(rule="limit.rack", fired=True, detail="no rack space left")]


def flat_bill(usd: float):
    def bill(p, sizing, settings) -> Cost:
        line = LineItem(
            name="flat", quantity=1, unit="month", unit_price_usd=usd, price="flat", source="test", basis="1"
        )
        return Cost(lines=[line])

    return bill


@pytest.fixture
def loaded(write_profile):
    return load_profile(write_profile(VALID))


def test_a_decision_holds_one_option_per_registered_target_in_the_registry_order(loaded):
    d = decide(loaded).decision
    assert list(d.options) == [t.target for t in TARGETS]
    s, k = d.option(Target.serverless), d.option(Target.kubernetes)
    assert isinstance(s.sizing, ServerlessSizing) and isinstance(k.sizing, KubernetesSizing)
    assert s.variant == "x86_64" and list(s.alternatives) == ["arm64"] and k.alternatives == {}
    assert s.feasible and k.feasible
    # Each option carries its own reasons; the decision's list holds them all, plus the shared ones.
    assert {r.rule for r in s.reasons} >= {"limit.gpu", "sla.latency", "coldstart.provisioned"}
    assert {r.rule for r in k.reasons} >= {"coldstart.min_replicas", "capacity.packing"}
    assert not {r.rule for r in s.reasons} & {r.rule for r in k.reasons}
    shared = [r.rule for r in d.reasons if r.rule.startswith("traffic.")]
    assert shared == ["traffic.utilization", "traffic.hours"]
    assert d.chosen is d.option(d.target)


def test_auto_skips_a_target_its_own_limits_rule_out(loaded):
    blocked = Variant(SERVERLESS, limits=always_ruled_out, label="Lambda")
    cheap = Variant(KUBERNETES, bill=flat_bill(1e6))  # kubernetes far dearer: only the limit sends work there
    w = decide_over(loaded, [blocked, cheap])
    assert w.target is Target.kubernetes
    assert not w.decision.option(Target.serverless).feasible
    assert w.decision.reasons[-1].detail == (
        "kubernetes: the only option meeting every hard limit and the SLA; Lambda ruled out by rack"
    )


def test_an_explicit_target_its_limits_rule_out_is_refused_naming_the_others(write_profile):
    loaded = load_profile(write_profile(VALID.replace("target: auto", "target: kubernetes")))
    blocked = Variant(KUBERNETES, limits=always_ruled_out)
    with pytest.raises(
        DecisionError,
        match=r"target: kubernetes is impossible: no rack space left\. "
        r"Allowed: target: serverless or auto",
    ):
        decide_over(loaded, [SERVERLESS, blocked])


def test_no_feasible_target_is_an_error_not_a_silent_choice(loaded):
    targets = [Variant(t, limits=always_ruled_out) for t in TARGETS]
    with pytest.raises(DecisionError, match="no target can host this workload"):
        decide_over(loaded, targets)


def test_equal_bills_go_to_the_lower_tie_rank(loaded):
    same = flat_bill(100.0)
    pair = [Variant(SERVERLESS, bill=same, alternatives=lambda *a: {}), Variant(KUBERNETES, bill=same)]
    assert decide_over(loaded, pair).target is Target.kubernetes  # tie_rank 0: held capacity
    flipped = [Variant(pair[0], tie_rank=-1), pair[1]]
    assert decide_over(loaded, flipped).target is Target.serverless


def test_the_decision_takes_whichever_targets_it_is_handed(loaded):
    only = decide_over(loaded, [KUBERNETES]).decision
    assert list(only.options) == [Target.kubernetes] and only.target is Target.kubernetes
    assert not next(r for r in only.reasons if r.rule == "cost.compare").fired  # nothing to compare
    swapped = decide_over(loaded, [KUBERNETES, SERVERLESS]).decision
    assert list(swapped.options) == [Target.kubernetes, Target.serverless]
    assert swapped.target is decide(loaded).target


def test_typed_accessors_refuse_the_wrong_sizing(loaded):
    w = decide(loaded)
    assert serverless_sizing(w).memory_mb == 2048
    with pytest.raises(TypeError, match="kubernetes sizing is KubernetesSizing, not ServerlessSizing"):
        w.decision.sizing(Target.kubernetes, ServerlessSizing)


def test_every_target_value_but_auto_has_a_registered_model():
    assert set(BY_TARGET) == {t for t in Target if t is not Target.auto}


def test_the_decision_never_names_a_target():
    # Control flow over Target.<name> in stacks/decision would make a new target an edit there too.
    root = Path(stacks.decision.__file__).parent
    named = [
        f"{path.name}:{node.lineno}: Target.{node.attr}"
        for path in sorted(root.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "Target"
        and node.attr != "auto"
    ]
    assert named == []
