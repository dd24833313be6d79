"""The decision: where a workload belongs, and why, with the numbers.

`decide` takes a validated profile and the registered targets (stacks/targets assembles them;
this module never names one). Each target sizes, bills and checks its rules; the rules shared by
all targets explain the traffic; then the options are compared: `auto` takes the cheapest option
that meets every hard limit and the SLA among the targets the platform offers (platform.targets;
on equal bills the lower tie_rank), an explicit target is kept and warned about, or refused when a
hard limit rules it out or the platform does not offer it. A target the platform does not offer is
still sized and billed, so a plan shows what it would cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stacks.decision.option import Decision, Facts, Option
from stacks.decision.reason import Reason, usd
from stacks.decision.sizing import sustained_utilization
from stacks.decision.target import TargetModel
from stacks.decision.traffic import SHARED_RULES
from stacks.decision.workload import Workload
from stacks.errors import DecisionError
from stacks.profile import Target
from stacks.profile.loader import LoadedProfile


def facts(loaded: LoadedProfile, targets: Sequence[TargetModel]) -> dict[Target, Facts[Any]]:
    """Size and bill every target: what each target's rules read (warnings shared, in rule order)."""
    p, settings = loaded.profile, loaded.settings
    utilization = sustained_utilization(p)
    warnings: list[str] = []
    out: dict[Target, Facts[Any]] = {}
    for model in targets:
        sizing = model.size(p, settings)
        out[model.target] = Facts(p, settings, sizing, model.bill(p, sizing, settings), utilization, warnings)
    return out


def decide(loaded: LoadedProfile, targets: Sequence[TargetModel]) -> Workload:
    p, settings = loaded.profile, loaded.settings
    if not targets:
        raise DecisionError(str(loaded.file), "no target is registered")
    found = facts(loaded, targets)
    first = found[targets[0].target]
    utilization, warnings = first.utilization, first.warnings

    # Limits first, then the traffic, then each target's sizing: the order a plan reads.
    limits = {m.target: _offered(m, settings.platform.targets) + m.limits(found[m.target]) for m in targets}
    shared = [r for rule in SHARED_RULES for r in rule(p, settings, utilization)]
    explained = {m.target: m.rules(found[m.target]) for m in targets}
    reasons = (
        [r for m in targets for r in limits[m.target]] + shared + [r for m in targets for r in explained[m.target]]
    )

    options: dict[Target, Option] = {}
    for m in targets:
        f = found[m.target]
        blockers = _blocking(limits[m.target])
        options[m.target] = Option(
            target=m.target,
            sizing=f.sizing,
            bill=f.bill,
            variant=m.variant(f.sizing),
            alternatives=m.alternatives(p, f.sizing, settings),
            feasible=not blockers,
            blockers=blockers,
            reasons=limits[m.target] + explained[m.target],
        )
    rank = {m.target: m.tie_rank for m in targets}
    model = {m.target: m for m in targets}

    def cheapest(candidates: list[Target]) -> Target:
        return min(candidates, key=lambda t: (options[t].bill.total, rank[t]))

    feasible = [t for t, o in options.items() if o.feasible]
    cheaper = cheapest(list(options))
    # The lowest bill may belong to an option that cannot run the workload: never call it the cheaper.
    verdict = f"{cheaper.value} is cheaper"
    if feasible and cheaper not in feasible:
        best = cheapest(feasible)
        out = "is not offered by the platform" if options[cheaper].not_offered else "is not feasible"
        verdict = f"{best.value} is the cheapest feasible ({cheaper.value} bills less but {out})"
    reasons.append(
        Reason(
            rule="cost.compare",
            fired=len(feasible) > 1,
            detail=" vs ".join(_cost_phrase(o) for o in options.values()) + f": {verdict}",
        )
    )

    if p.target is Target.auto:
        if not feasible:
            raise DecisionError(
                str(loaded.file),
                "no target can host this workload: "
                + "; ".join(f"{t.value}: " + "; ".join(r.detail for r in o.blockers) for t, o in options.items())
                + ". Change the profile.",
            )
        target = cheapest(feasible)
    else:
        target = p.target
        if target not in options:
            raise DecisionError(
                str(loaded.file),
                f"target: {target.value} has no model registered. Allowed: "
                + ", ".join(t.value for t in options)
                + " or auto.",
            )
        chosen = options[target]
        if chosen.not_offered:  # profile validation refuses it first; a decision handed other settings too
            line = loaded.line_of("target")
            raise DecisionError(
                f"{loaded.file}:{line}" if line else loaded.file,
                f"target: {target.value} is not offered by this platform. Allowed: target: "
                + " or ".join([*(t.value for t, o in options.items() if not o.not_offered), "auto"])
                + ", or add it to platform.targets in platform.yaml.",
            )
        if chosen.hard_limits:
            line = loaded.line_of("target")
            possible = [
                t.value for t, o in options.items() if t is not target and not o.hard_limits and not o.not_offered
            ]
            raise DecisionError(
                f"{loaded.file}:{line}" if line else loaded.file,
                f"target: {target.value} is impossible: "
                + "; ".join(r.detail for r in chosen.hard_limits)
                + f". Allowed: target: {' or '.join([*possible, 'auto'])}, or change the profile.",
            )
        if chosen.sla_misses:
            warnings.append(f"target {target.value} misses the SLA: " + "; ".join(r.detail for r in chosen.sla_misses))
        best = cheapest(feasible) if feasible else None
        if chosen.feasible and best is not None and best is not target:
            warnings.append(
                f"target {target.value} costs {usd(chosen.bill.total)}/month; "
                f"{best.value} would cost {usd(options[best].bill.total)}/month"
            )
    if found[target].refusals:
        loc, message, allowed = found[target].refusals[0]
        line = loaded.line_of(*loc)
        raise DecisionError(
            f"{loaded.file}:{line}" if line else loaded.file,
            f"{'.'.join(loc)}: {message}\n    allowed: {allowed}",
        )
    warnings += model[target].when_chosen(options[target])
    reasons.append(Reason(rule="target", fired=True, detail=_target_sentence(p.target, target, options, model)))

    decision = Decision(
        requested=p.target,
        target=target,
        options=options,
        reasons=reasons,
        warnings=warnings,
        utilization=utilization,
    )
    return Workload(profile=p, decision=decision, file=loaded.file, settings=loaded.settings)


def blockers(model: TargetModel, f: Facts[Any], offered: Sequence[str]) -> list[Reason]:
    """What rules `model` out on these facts, as `decide` finds an option's blockers: the platform does
    not offer it, a hard limit, a missed SLA. The chart asks it at every traffic it draws."""
    return _blocking(_offered(model, offered) + model.limits(f))


def _blocking(limits: list[Reason]) -> list[Reason]:
    return [r for r in limits if r.fired and r.rule.startswith(("platform.", "limit.", "sla."))]


def _offered(model: TargetModel, offered: Sequence[str]) -> list[Reason]:
    """Only when the platform leaves a target out: a plan on the default platform reads as before."""
    if model.target.value in offered:
        return []
    return [
        Reason(
            rule="platform.not_offered",
            fired=True,
            detail=f"{model.target.value} is not offered by the platform (platform.targets: {', '.join(offered)})",
        )
    ]


def _cost_phrase(o: Option) -> str:
    notes = []
    if o.variant:
        notes.append("; ".join([o.variant, *(f"{name} {usd(cost.total)}" for name, cost in o.alternatives.items())]))
    if o.blockers and not o.not_offered:
        notes.append("not feasible")
    text = f"{o.target.value} {usd(o.bill.total)}/month" + (f" ({'; '.join(notes)})" if notes else "")
    if o.not_offered:
        text += " (not offered by the platform)"
    return text


def _target_sentence(
    requested: Target, target: Target, options: dict[Target, Option], model: dict[Target, TargetModel]
) -> str:
    if requested is not Target.auto:
        return f"{target.value}: set explicitly in the profile"
    clauses = []
    for t, o in options.items():
        if o.not_offered:
            clauses.append(f"{t.value} not offered by the platform")
        elif o.hard_limits:
            clauses.append(
                f"{model[t].label} ruled out by " + ", ".join(r.rule.removeprefix("limit.") for r in o.hard_limits)
            )
        elif o.sla_misses:
            clauses.append(
                f"{t.value} misses the SLA (" + ", ".join(r.rule.removeprefix("sla.") for r in o.sla_misses) + ")"
            )
    # The choice first, then why each other platform is out: with several targets, naming only the
    # ruled-out ones read as if a limit of another platform had chosen this one.
    feasible = [t for t, o in options.items() if o.feasible]
    head = "cheapest option" if len(feasible) > 1 else "the only option"
    return f"{target.value}: {head} meeting every hard limit and the SLA" + "".join(f"; {c}" for c in clauses)
