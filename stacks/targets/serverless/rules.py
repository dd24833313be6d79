"""Serverless rules that explain the sizing: cold starts, provisioned concurrency and where the
weights live, each a small function of the facts returning its verdict and numbers.

- `coldstart.provisioned`: provisioned concurrency when a cold start exceeds the budget.
- `coldstart.pc_economics`: whether the provisioned environments pay for themselves.
- `coldstart.weights_in_image`: small local weights baked into the image start faster and cost
  less than EFS (and need no VPC, file system or copy function).
- `coldstart.init_limit`: Lambda gives the init phase 10 s; an on-demand cold start beyond it
  is cut and re-run inside the first invocation, which then pays it twice (also outside the
  window of scheduled provisioned concurrency). A warning when serverless is the target.
"""

from __future__ import annotations

from collections.abc import Callable

from stacks.decision.option import Facts
from stacks.decision.reason import Reason
from stacks.limits import LAMBDA_INIT_LIMIT_MS
from stacks.targets.serverless.sizing import ServerlessSizing, lambda_cold_start, weights_fit_in_image

ServerlessFacts = Facts[ServerlessSizing]
Rule = Callable[[ServerlessFacts], list[Reason]]


def _reason(rule: str, fired: bool, detail: str) -> Reason:
    return Reason(rule=rule, fired=fired, detail=detail)


INIT_LIMIT = "coldstart.init_limit"


def lambda_cold_start_text(f: ServerlessFacts) -> str:
    cs, pf, m = f.sizing.cold_start, f.platform, f.p.model
    source = (
        f"in the image at {pf.lambda_image_read_mb_per_s:g} MB/s"
        if f.sizing.weights_in_image
        else f"from EFS at {pf.efs_read_mb_per_s:g} MB/s"
    )
    image = f.sizing.image_gb - (m.weights_gb if f.sizing.weights_in_image else 0.0)
    return (
        f"Lambda cold start ~{cs.total_ms:,.0f} ms (runtime init {cs.base_ms:,.0f} + image {image:g} GB "
        f"loaded lazily {cs.image_ms:,.0f} + imports {cs.imports_ms:,.0f} + weights {m.weights_gb:g} GB {source} "
        f"{cs.weights_ms:,.0f} + deserialize at {pf.weights_deserialize_mb_per_s:,g} MB/s {cs.deserialize_ms:,.0f})"
    )


def coldstart_provisioned(f: ServerlessFacts) -> list[Reason]:
    s, p = f.sizing, f.p
    budget = f"budget {p.sla.cold_start_budget_ms:,.0f} ms"
    if not s.provisioned:
        return [
            Reason(
                rule="coldstart.provisioned",
                fired=False,
                detail=f"{lambda_cold_start_text(f)} <= {budget}: no provisioned concurrency",
            )
        ]
    u = p.utilization
    if s.pc_scheduled:
        when = f"in {u.active_window} (warm {s.pc_prewarm_minutes} min before)"
    else:
        when = "around the clock (no active_window)"
        if u.active_hours_per_day < 24:
            f.warnings.append(
                f"provisioned concurrency is billed 24 h/day because utilization.active_window is not set; "
                f"setting it would bill {u.active_hours_per_day:g} h/day"
            )
    return [
        Reason(
            rule="coldstart.provisioned",
            fired=True,
            detail=f"{lambda_cold_start_text(f)} > {budget}: provisioned concurrency {s.pc_min}-{s.pc_max} {when}",
        )
    ]


def coldstart_pc_economics(f: ServerlessFacts) -> list[Reason]:
    s, pf = f.sizing, f.platform
    if not s.provisioned:
        return []
    use = s.avg_concurrency / s.pc_min
    pays = use >= pf.pc_break_even_utilization
    return [
        Reason(
            rule="coldstart.pc_economics",
            fired=False,
            detail=f"provisioned environments {use:.0%} used (avg concurrency {s.avg_concurrency:.2f} / {s.pc_min}); "
            f"they {'pay for themselves' if pays else 'cost more than on-demand'} "
            f"(break-even {pf.pc_break_even_utilization:.0%})",
        )
    ]


def weights_in_image(f: ServerlessFacts) -> list[Reason]:
    p, s, platform, prices = f.p, f.sizing, f.platform, f.settings.prices
    if p.model.weights_in_s3:
        return []
    gb = p.model.weights_gb
    if not weights_fit_in_image(p, platform):
        return [
            _reason(
                "coldstart.weights_in_image",
                False,
                f"local weights {gb:g} GB > platform image_weights_max_gb {platform.image_weights_max_gb:g} GB "
                "(or the image would pass 10 GB): weights on EFS",
            )
        ]
    efs = lambda_cold_start(p, platform).weights_ms
    image = lambda_cold_start(p, platform, weights_in_image=True).weights_ms
    saved = gb * (prices.efs_storage_gb_month_usd - prices.ecr_storage_gb_month_usd)
    return [
        _reason(
            "coldstart.weights_in_image",
            s.weights_in_image,
            f"local weights {gb:g} GB <= {platform.image_weights_max_gb:g} GB: read with the image in ~{image:,.0f} ms "
            f"instead of ~{efs:,.0f} ms from EFS, storage ${abs(saved):,.2f}/month {'less' if saved > 0 else 'more'} "
            "(ECR instead of EFS); "
            + ("baked into the image, no VPC, EFS or weights copy" if s.weights_in_image else "kept on EFS (no gain)"),
        )
    ]


def init_limit(f: ServerlessFacts) -> list[Reason]:
    """On-demand cold starts over the init limit: with no provisioned concurrency, or outside the
    window that scheduled provisioned concurrency covers (callers and queued messages still come)."""
    p, s = f.p, f.sizing
    total = s.cold_start.total_ms
    on_demand = not s.provisioned or s.pc_scheduled
    over = on_demand and total > LAMBDA_INIT_LIMIT_MS
    if s.provisioned and not s.pc_scheduled:
        detail = f"cold start ~{total:,.0f} ms happens ahead of traffic (provisioned concurrency)"
    else:
        detail = (
            f"on-demand cold start ~{total:,.0f} ms {'>' if over else '<='} Lambda's "
            f"{LAMBDA_INIT_LIMIT_MS:,} ms init limit"
        )
        if s.pc_scheduled:
            detail = (
                f"provisioned concurrency covers {p.utilization.active_window} only; outside "
                f"{p.utilization.active_window} the {detail}"
            )
    if over:
        first = (
            "drop active_window (provisioned concurrency around the clock)"
            if s.pc_scheduled
            else "lower cold_start_budget_ms below it (provisioned concurrency)"
        )
        detail += (
            f": Lambda cuts the init and repeats it inside the first request; {first}, "
            "bake smaller weights into the image, or use target: kubernetes"
        )
    return [Reason(rule=INIT_LIMIT, fired=over, detail=detail)]


RULES: list[Rule] = [coldstart_provisioned, coldstart_pc_economics, weights_in_image, init_limit]
