"""`switchyard plan --chart DIR`: the break-even as a picture, one image per workload.

Monthly cost of every target against traffic: the average rps (the peak scaled with it, so the
traffic keeps its shape) and the active hours a day (the rps fixed), from the same sizing and
bills the decision uses (each registered target's). At each traffic the winner is the target `auto`
would choose there: the cheapest that the platform offers and that meets every hard limit and the
SLA (stacks/decision/decide.py `blockers`), so a target that cannot run the workload never wins a
region, however low its bill. Where the winner changes is found by bisection and marked, each
region is shaded in its winner's colour, and the profile's own point is drawn on every curve.
matplotlib is an optional extra (`pip install 'switchyard-iac[chart]'`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stacks.decision.decide import blockers, facts
from stacks.decision.workload import Workload
from stacks.errors import SwitchyardError
from stacks.profile import Target, Utilization
from stacks.profile.loader import LoadedProfile
from stacks.targets import BY_TARGET, TARGETS

# Each point is a decision, and a provisioned Lambda's is sized by simulating its burst (~20-50 ms):
# 40 points a curve draw the steps of replica counts; a crossing is then bisected to 1/2^20 of its step.
POINTS = 40
HOURS_STEP = 1.0
BISECTIONS = 20
FORMATS = ("png", "svg")
COLORS = {Target.serverless: "#d95f02", Target.kubernetes: "#1b9e77", Target.managed_instances: "#7570b3"}
OTHER_COLORS = ("#e7298a", "#66a61e", "#e6ab02", "#a6761d")  # for targets without a colour of their own

Costs = dict[Target, float]


@dataclass(frozen=True)
class Point:
    costs: Costs  # every target's monthly bill
    feasible: frozenset[Target]  # offered, within every hard limit, meeting the SLA

    @property
    def winner(self) -> Target | None:
        """As the decision chooses: the lowest bill among the feasible, on a tie the lower tie_rank."""
        if not self.feasible:
            return None
        return min(self.feasible, key=lambda t: (self.costs[t], BY_TARGET[t].tie_rank))


@dataclass(frozen=True)
class Series:
    label: str  # x axis
    unit: str  # of x, in annotations
    xs: list[float]
    costs: dict[Target, list[float]]  # per target, one monthly bill per x
    at: float  # the profile's own x
    break_even: list[tuple[float, float]]  # (x, USD) where the winner changes
    winners: list[Target | None]  # per x, what auto chooses there (None: no target can run it)
    regions: list[tuple[float, float, Target | None]]  # (from x, to x, winner), tiling 0 to the last x


def _point(w: Workload, u: Utilization) -> Point:
    loaded = LoadedProfile(w.profile.model_copy(update={"utilization": u}), w.file, w.settings)
    found = facts(loaded, TARGETS)
    offered = w.settings.platform.targets
    feasible = frozenset(m.target for m in TARGETS if not blockers(m, found[m.target], offered))
    return Point({t: f.bill.total for t, f in found.items()}, feasible)


def headline(series: Series) -> str:
    """The panel's title: where the winner changes, or who wins throughout."""
    if series.break_even:
        return "break-even at " + ", ".join(
            f"{x:,.3g} {series.unit} ({_money(cost)}/month)" for x, cost in series.break_even
        )
    (_, _, winner), *_ = series.regions
    if winner is None:
        return "no target can run this workload anywhere in this range"
    return f"no break-even in this range: {winner.value} wins throughout"


def at_rps(w: Workload, rps: float) -> Utilization:
    """The profile's traffic at `rps` on average; the peak (the capacity held) stays."""
    u = w.profile.utilization
    return u.model_copy(update={"avg_rps": rps, "peak_rps": max(u.peak_rps, rps)})


def at_hours(w: Workload, hours: float) -> Utilization:
    """The profile's traffic over `hours` a day; a window keeps its start."""
    u = w.profile.utilization
    window = u.window_minutes()
    update: dict[str, object] = {"active_hours_per_day": hours}
    if window is not None:
        start = window[0]
        end = (start + round(hours * 60)) % (24 * 60)
        zone = u.window_timezone()
        update["active_window"] = f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d} {zone}"
    return u.model_copy(update=update)


def _crossings(
    xs: list[float], points: list[Point], point_at: Callable[[float], Point]
) -> list[tuple[float, Point, Point]]:
    """(x, the point before, the point after) where the winner changes, refined by bisection."""
    found = []
    for i in range(1, len(xs)):
        before, after = points[i - 1].winner, points[i].winner
        if before is after:
            continue
        lo, hi = xs[i - 1], xs[i]
        for _ in range(BISECTIONS):
            mid = (lo + hi) / 2
            if point_at(mid).winner is before:
                lo = mid
            else:
                hi = mid
        found.append(((lo + hi) / 2, point_at(lo), point_at(hi)))
    return found


def _cost_at(p: Point, before: Point) -> float:
    """The crossing's height: the bills of the two winners there (one, when nothing runs on a side)."""
    bills = [p.costs[t] for t in (before.winner, p.winner) if t is not None]
    return max(bills) if bills else 0.0


def _series(label: str, unit: str, xs: list[float], at: float, point_at: Callable[[float], Point]) -> Series:
    points = [point_at(x) for x in xs]
    costs = {t: [p.costs[t] for p in points] for t in points[0].costs}
    crossings = _crossings(xs, points, point_at)
    edges = [0.0, *(x for x, _, _ in crossings), xs[-1]]
    winners = [points[0].winner, *(after.winner for _, _, after in crossings)]
    regions = [(edges[i], edges[i + 1], winners[i]) for i in range(len(winners))]
    break_even = [(x, _cost_at(point_at(x), before)) for x, before, _ in crossings]
    return Series(label, unit, xs, costs, at, break_even, [p.winner for p in points], regions)


_SERIES: dict[tuple[str, str, str], Series] = {}


def _kept(kind: str, w: Workload, build: Callable[[], Series]) -> Series:
    """A workload's series once per process: a chart drawn twice (png, then svg) decides its points once."""
    key = (kind, w.profile.model_dump_json(), w.settings.model_dump_json())
    if key not in _SERIES:
        _SERIES[key] = build()
    return _SERIES[key]


def rps_series(w: Workload) -> Series:
    """From idle to the peak sustained all the active hours, the peak fixed."""
    return _kept("rps", w, lambda: _rps_series(w))


def hours_series(w: Workload) -> Series:
    return _kept("hours", w, lambda: _hours_series(w))


def _rps_series(w: Workload) -> Series:
    u = w.profile.utilization
    top = u.peak_rps or u.avg_rps or 1.0
    xs = [top * i / POINTS for i in range(1, POINTS + 1)]
    label = f"average requests/s over the active hours (peak {u.peak_rps:g} held, {u.active_hours_per_day:g} h/day)"
    return _series(label, "rps", xs, u.avg_rps, lambda x: _point(w, at_rps(w, x)))


def _hours_series(w: Workload) -> Series:
    u = w.profile.utilization
    xs = [HOURS_STEP * i for i in range(1, round(24 / HOURS_STEP) + 1)]
    label = f"active hours a day (at {u.avg_rps:g} requests/s average)"
    return _series(label, "h/day", xs, u.active_hours_per_day, lambda x: _point(w, at_hours(w, x)))


def _money(x: float) -> str:
    # Escaped: matplotlib reads $...$ as mathematics.
    return f"\\${x:,.0f}" if x >= 100 or x == int(x) else f"\\${x:,.2f}"


def draw(w: Workload, out: Path, fmt: str = "png") -> Path:
    try:  # matplotlib is an optional extra, and slow to import: only when a chart is asked for
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        raise SwitchyardError(
            "plan --chart needs matplotlib, an optional extra: pip install 'switchyard-iac[chart]'"
        ) from None
    d = w.decision
    options = list(d.options.values())
    colors = {o.target: COLORS.get(o.target, OTHER_COLORS[i % len(OTHER_COLORS)]) for i, o in enumerate(options)}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    for ax, series in zip(axes, (rps_series(w), hours_series(w)), strict=True):
        for o in options:
            label = o.target.value + (f" ({o.variant})" if o.variant else "")
            ruled_out = [r.rule.split(".", 1)[1].replace("not_offered", "not offered") for r in o.blockers]
            if ruled_out:
                label += f", ruled out: {', '.join(ruled_out)}"
            ax.plot(
                series.xs,
                series.costs[o.target],
                color=colors[o.target],
                linestyle="--" if ruled_out else "-",
                label=label,
            )
        # Where each target wins: its region shaded in its colour and named along the top.
        span = series.xs[-1]
        for lo, hi, winner in series.regions:
            if winner is None:
                ax.axvspan(lo, hi, facecolor="none", edgecolor="#999999", hatch="//", linewidth=0)
            else:
                ax.axvspan(lo, hi, color=colors[winner], alpha=0.08, linewidth=0)
            if hi - lo >= span / 12:  # room for the name
                ax.text(  # just above the plot, under the title: no legend or curve covers it
                    (lo + hi) / 2,
                    1.01,
                    f"{winner.value} wins" if winner else "nothing feasible",
                    transform=ax.get_xaxis_transform(),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    fontweight="bold",
                    color=colors[winner] if winner else "#666666",
                    clip_on=False,
                )
        for x, cost in series.break_even:
            ax.axvline(x, color="#7570b3", linestyle=":", linewidth=1.2)
            ax.plot([x], [cost], marker="D", color="#7570b3", markersize=5)
        ax.set_title(headline(series), fontsize=9, color="#7570b3", pad=16)
        ax.scatter(
            [series.at] * len(options),
            [o.bill.total for o in options],
            color=[colors[o.target] for o in options],
            edgecolors="black",
            zorder=3,
            label=f"this profile -> {d.target.value}: " + " vs ".join(_money(o.bill.total) for o in options),
        )
        ax.set_xlabel(series.label, fontsize=9)
        ax.set_ylabel("USD per month")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: _money(y)))
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(f"{w.name}: monthly cost of every target against traffic (price book, {w.settings.platform.region})")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{w.name}.{fmt}"
    tmp = path.with_name(f".{path.name}.tmp")
    metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    fig.savefig(tmp, format=fmt, dpi=110, metadata=metadata)
    plt.close(fig)
    tmp.replace(path)
    return path
