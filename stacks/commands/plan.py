"""`switchyard plan`: each workload's target, why, the cost of every option, and sizing."""

from __future__ import annotations

import json
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any

from stacks.chart import draw
from stacks.commands import lock
from stacks.commands.report import exit_code, print_failures
from stacks.commands.wrap import output_width, wrap
from stacks.decision.cost import Cost, LineItem
from stacks.decision.option import Option
from stacks.decision.workload import Workload
from stacks.errors import SwitchyardError
from stacks.pricebook import PRICE_BOOK_REGION, regional_prices_unset, stale_prices
from stacks.profile import Target
from stacks.simulate.verdict import not_simulated, simulated
from stacks.targets import BY_TARGET, TARGETS
from stacks.targets.assumptions import assumptions
from stacks.targets.serverless.bill import shared_platform_cost
from stacks.workloads import Batch, load_all

PLAN_CHANGED = 5  # ExitCode.PLAN_CHANGED, without importing the CLI


def _money(x: float) -> str:
    return f"${x:,.2f}"


def sizing_line(w: Workload, target: Target) -> str:
    return BY_TARGET[target].describe(w)


def _line_json(line: LineItem) -> dict[str, Any]:
    return {
        "name": line.name,
        "quantity": line.quantity,
        "unit": line.unit,
        "unit_price_usd": line.unit_price_usd,
        "usd": line.usd,
        "price": f"prices.{line.price}",
        "source": line.source,
        "basis": line.basis,
    }


def _cost_json(cost: Cost) -> dict[str, Any]:
    return {
        "total": cost.total,
        "items": cost.items,
        "lines": [_line_json(line) for line in cost.lines],
        "notes": list(cost.notes),
    }


def _quantity(x: float) -> str:
    if x == int(x):
        return f"{x:,.0f}"
    return f"{x:,.2f}" if abs(x) >= 100 else f"{x:,.4g}"


def _price(x: float) -> str:
    """A unit price as written in the price book: no exponent, no trailing zeros."""
    text = f"{x:.10f}".rstrip("0").rstrip(".")
    if "." in text and len(text.split(".")[1]) < 2:
        text += "0" * (2 - len(text.split(".")[1]))
    return "$" + (text if "." in text else text + ".00")


def bill_lines(title: str, cost: Cost, status: str | None = None) -> list[str]:
    """A bill: one line per item, quantity x unit price = USD, the price book entry, and how."""
    out = [f"  {title}: {_money(cost.total)}/month" + (f" ({status})" if status else "")]
    for line in cost.lines:
        amount = f"{_quantity(line.quantity)} {line.unit} x {_price(line.unit_price_usd)}"
        out.append(f"    {line.name:<26} {amount:<44} = {_money(line.usd):>10}  prices.{line.price}; {line.basis}")
    out += [f"    note: {note}" for note in cost.notes]
    return out


def price_warnings(batch: Batch, today: date) -> list[str]:
    """One warning per distinct price book whose dated prices are older than its threshold."""
    seen: set[tuple[tuple[str, date], ...]] = set()
    regions_seen: set[tuple[str, tuple[str, ...]]] = set()
    out = []
    for w in batch.workloads:
        platform = w.settings.platform
        unset = tuple(regional_prices_unset(w.settings.prices, platform.region))
        if unset and (platform.region, unset) not in regions_seen:
            regions_seen.add((platform.region, unset))
            out.append(
                f"price book: platform.region is {platform.region} but {len(unset)} AWS price(s) are still "
                f"{PRICE_BOOK_REGION} list prices: {', '.join(unset)}; set {platform.region}'s prices in "
                "platform.yaml (prices:)"
            )
        stale = tuple(stale_prices(w.settings.prices, platform.price_max_age_days, today))
        if not stale or stale in seen:
            continue
        seen.add(stale)
        names = ", ".join(f"{name} ({d.isoformat()})" for name, d in stale)
        out.append(
            f"price book: {len(stale)} price(s) older than {platform.price_max_age_days} days "
            f"(platform.price_max_age_days): {names}; re-check them against their sources and set them, "
            "with prices.as_of, in platform.yaml"
        )
    return out


def _option_cost_json(o: Option) -> dict[str, Any]:
    return {**_cost_json(o.bill), **({"architecture": o.variant} if o.variant else {})}


def _variant(o: Option) -> str:
    return f" ({o.variant})" if o.variant else ""


def to_json(w: Workload) -> dict[str, Any]:
    w = simulated(w)
    d = w.decision
    costs: dict[str, Any] = {}
    for t, o in d.options.items():
        costs[t.value] = _option_cost_json(o)
        # The other architecture's total beside the option (a key users read: <target>_other_architecture).
        for other in o.alternatives.values():
            costs[f"{t.value}_other_architecture"] = round(other.total, 2)
    return {
        "name": w.name,
        "file": str(w.file),
        "requested": d.requested.value,
        "target": d.target.value,
        "serverless_feasible": d.option(Target.serverless).feasible,
        "utilization": round(d.utilization, 4),
        "reasons": [r.model_dump() for r in d.reasons],
        "warnings": d.warnings,
        "assumptions": [a.to_json() for a in assumptions(w)],
        "cost_usd_month": costs,
        **{t.target.value: t.placement(w) for t in TARGETS},  # what each option would own
        "sizing": {t.value: o.sizing.model_dump(mode="json") for t, o in d.options.items()},
        # Per option: whether it can run the workload, what rules it out, and its own reasons (rule ids
        # such as limit.gpu repeat across targets, so the flat `reasons` list cannot say whose they are).
        "options": {
            t.value: {
                "feasible": o.feasible,
                "offered": not o.not_offered,
                "blockers": [r.rule for r in o.blockers],
                "reasons": [r.model_dump() for r in o.reasons],
            }
            for t, o in d.options.items()
        },
        # What callers would live through in the profile's simulated burst (stacks/simulate/verdict.py),
        # beside each bill; an option it does not model, or that cannot run the workload, says why not.
        "simulated": {
            t.value: o.simulated.model_dump(mode="json") if o.simulated else {"not_simulated": not_simulated(o)}
            for t, o in d.options.items()
        },
    }


def _status(o: Option, chosen: Target, *, sentence: bool = False) -> str | None:
    """Why an option's bill is not one more choice: chosen, not offered, or not feasible with its first
    blocker (with `sentence`, that rule's first sentence too). None: feasible and not chosen."""
    marks = ["chosen"] if o.target is chosen else []
    if o.not_offered:
        marks.append("not offered by platform.targets")
    elif o.blockers:
        first = o.blockers[0]
        marks.append(f"not feasible: {first.rule}" + (f": {_first_sentence(first.detail)}" if sentence else ""))
    return ", ".join(marks) or None


def _first_sentence(text: str) -> str:
    """A rule's verdict: its detail up to the first sentence or clause break (the rest is in `rules:`)."""
    return re.split(r"(?<=[a-z0-9)])\. (?=[A-Z])|; ", text, maxsplit=1)[0]


def sim_lines(o: Option) -> list[str]:
    """The simulated burst's figures beside the option's bill (stacks/simulate/verdict.py; the sim.*
    rules explain them), or why there are none."""
    sim = o.simulated
    if sim is None:
        return [f"    {o.target.value}: not simulated: {not_simulated(o)}"]
    p99 = "-" if sim.p99_ms is None else f"{sim.p99_ms:,.0f} ms"
    unit = "replicas" if o.target is Target.kubernetes else "environments"
    text = (
        f"    {o.target.value}: cold starts {sim.cold_share:.2%}, p99 {p99} (SLA {sim.sla_p99_ms:,.0f} ms), "
        f"refused {sim.refused_share:.2%} of {sim.requests:,} requests; peak {sim.peak_capacity} {unit}"
    )
    if sim.max_queue_age_s is not None:
        text += f"; oldest message {sim.max_queue_age_s:,.1f} s"
    if sim.monthly_usd is not None:
        text += (
            f"; {_money(sim.monthly_usd)}/month from replica-hours (bill at the peak x 730 h: {_money(o.bill.total)})"
        )
    return [text]


def _window(d) -> str:
    sim = next((o.simulated for o in d.options.values() if o.simulated), None)
    return f"one burst, {sim.window}" if sim else "nothing (no option the simulator models can run it)"


def _cost_summary(o: Option, chosen: Target) -> str:
    text = f"{o.target.value} {_money(o.bill.total)}/month"
    notes = []
    if o.variant:
        others = "; ".join(f"other arch {_money(c.total)}" for c in o.alternatives.values())
        notes.append(f"{o.variant}; {others}" if others else o.variant)
    status = _status(o, chosen)
    if status:
        notes.append(status)
    return text + (f" ({'; '.join(notes)})" if notes else "")


def _mark(o: Option, chosen: Target) -> str:
    """The summary table's word under a bill (the workload's cost line says which rule)."""
    if o.target is chosen:
        return "chosen"
    return "not offered" if o.not_offered else "not feasible" if o.blockers else ""


def _summary(batch: Batch) -> list[str]:
    """One row of bills per workload, each marked on the line below it, then why the target was chosen:
    a bill the workload cannot use never reads as one more choice, and the table stays ~100 columns
    (the reason on its own line wraps like the rest of the report)."""
    rows = [["WORKLOAD", "TARGET", *(f"{t.target.value.upper()}/MO" for t in TARGETS)]]
    whys = []
    for w in batch.workloads:
        d = w.decision
        rows.append([w.name, d.target.value, *(_money(o.bill.total) for o in d.options.values())])
        rows.append(["", "", *(_mark(o, d.target) for o in d.options.values())])
        whys.append(f"  why: {d.reasons[-1].detail.split(': ', 1)[-1]}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    out = lines[:1]
    for i, why in enumerate(whys):
        out += [*lines[1 + 2 * i : 3 + 2 * i], why]
    return out


def render_table(batch: Batch) -> str:
    batch = Batch([simulated(w) for w in batch.workloads], batch.failures)
    out = _summary(batch)
    for w in batch.workloads:
        d = w.decision
        out += [
            "",
            f"{w.name} -> {d.target.value}  ({w.file})",
            f"  sizing: {sizing_line(w, d.target)}",
            "  cost:   " + ", ".join(_cost_summary(o, d.target) for o in d.options.values()),
            f"  simulated: {_window(d)}",
            *(line for o in d.options.values() for line in sim_lines(o)),
            *(
                line
                for o in d.options.values()
                for line in bill_lines(
                    f"bill, {o.target.value}{_variant(o)}", o.bill, _status(o, d.target, sentence=True)
                )
            ),
            f"  owns:   {BY_TARGET[d.target].owns(w)}",
        ]
        out += ["  rules:"]
        out += [f"    {'*' if r.fired else '-'} {r.rule:<24} {r.detail}" for r in d.reasons]
        out += ["  assumptions:"]
        out += [f"    {a.name:<34} {a.detail}  ({a.setting})" for a in assumptions(w)]
        out += [f"  warning: {text}" for text in d.warnings]
    shared = _shared_platform(batch)
    if shared is not None and shared.lines:
        out += [
            "",
            f"shared serverless platform: {_money(shared.total)}/month, billed once (not in any workload's bill)",
        ]
        out += bill_lines("bill, platform", shared)
    out += ["", "(* rule fired and shaped the decision or sizing; - checked, did not fire)"]
    return "\n".join(out)


def _shared_platform(batch: Batch) -> Cost | None:
    """The platform stack's own cost (one per app: its settings are platform-wide), when serverless is planned."""
    serverless = batch.by_target("serverless")
    if not serverless:
        return None
    settings = serverless[0].settings
    return shared_platform_cost(settings.prices, settings.platform)


def render_changes(lock_file: Path, changes: list[lock.Change] | None) -> str:
    if changes is None:
        return f"\nNo plan lock at {lock_file}: run `switchyard plan --write-lock` and commit it."
    if not changes:
        return f"\nNo changes against {lock_file}."
    out = [f"\nChanges against {lock_file}:"]
    out += [f"  {c.name}: {c.detail}" for c in changes]
    for c in changes:
        if c.kind == "target" and c.old_target and c.new_target:
            out += ["", f"Runbook: move {c.name} from {c.old_target} to {c.new_target}"]
            out += [
                f"  {step}"
                for step in lock.runbook(
                    c.name, c.old_target, c.new_target, c.platform, c.queued, c.synchronous, c.smoke
                )
            ]
    return "\n".join(out)


def _change_json(c: lock.Change) -> dict[str, Any]:
    steps = (
        lock.runbook(c.name, c.old_target, c.new_target, c.platform, c.queued, c.synchronous, c.smoke)
        if c.old_target and c.new_target
        else None
    )
    return {"name": c.name, "kind": c.kind, "detail": c.detail, "runbook": steps}


def write_charts(batch: Batch, directory: Path, fmt: str) -> list[Path]:
    if directory.exists() and not directory.is_dir():
        raise SwitchyardError(f"--chart {directory}: exists and is not a directory; name a directory for the images")
    try:
        return [draw(w, directory, fmt) for w in batch.workloads]
    except OSError as exc:
        raise SwitchyardError(f"--chart {directory}: cannot write the images ({exc.strerror or exc})") from None


def run(
    paths: list[Path],
    *,
    as_json: bool,
    write_lock: bool = False,
    check: bool = False,
    lock_file: Path | None = None,
    chart_dir: Path | None = None,
    chart_format: str = "png",
    today: date | None = None,
    width: int | None = None,
) -> int:
    """`width`: wrap the text report at this many columns (0: never); None: the terminal's, if any."""
    batch = load_all(paths)
    stale = price_warnings(batch, today or date.today())
    lock_file = lock_file or lock.lock_path(paths)
    if write_lock:
        if batch.failures:
            print_failures(batch.failures)
            print(f"error: {lock_file} not written: fix the profiles above first", file=sys.stderr)
            return exit_code(batch)
        lock.write(lock_file, batch.workloads)
        print(f"wrote {lock_file} ({len(batch.workloads)} workloads)", file=sys.stderr)
    locked = lock.read(lock_file)
    complete = all(p.is_dir() for p in paths) if paths else True
    changes = None if locked is None else lock.diff(locked, batch.workloads, complete=complete)
    if as_json:
        doc = {
            "workloads": [to_json(w) for w in batch.workloads],
            "errors": [
                {"file": str(f.file), "message": str(f.error), "exit_code": f.error.exit_code} for f in batch.failures
            ],
            "lock": str(lock_file) if locked is not None else None,
            "changes": [_change_json(c) for c in changes or []],
            "price_warnings": stale,
        }
        shared = _shared_platform(batch)
        if shared is not None:
            doc["shared_platform_cost"] = _cost_json(shared)
        # allow_nan=False: `--json` is always valid JSON. Validation keeps every number finite,
        # so a NaN here is a bug, and it fails loudly rather than printing `NaN` to a parser.
        print(json.dumps(doc, indent=2, allow_nan=False))
    else:
        if batch.workloads:
            columns = output_width(width)
            print(wrap(render_table(batch), columns))
            print(wrap(render_changes(lock_file, changes), columns))
        for text in stale:
            print(f"warning: {text}", file=sys.stderr)
        print_failures(batch.failures)
    if chart_dir is not None and batch.workloads:
        for path in write_charts(batch, chart_dir, chart_format):
            print(f"wrote {path}", file=sys.stderr)
    if not batch.workloads and not batch.failures:
        print(f"error: no profiles (*.yaml) found in {', '.join(map(str, paths or ['profiles']))}", file=sys.stderr)
    code = exit_code(batch)
    if code == 0 and check and (changes is None or changes):
        print(
            f"error: the plan differs from {lock_file}; review it, then `switchyard plan --write-lock`", file=sys.stderr
        )
        return PLAN_CHANGED
    return code
