"""`switchyard plan --chart DIR`: the break-even as a picture, one image per workload.

Monthly cost of both targets against traffic: the average rps (the peak scaled with it, so the
traffic keeps its shape) and the active hours a day (the rps fixed), from the same sizing and
cost functions the decision uses. The break-even is found by bisection on those functions and
marked; the profile's own point is drawn on both curves. matplotlib is an optional extra
(`pip install 'switchyard-iac[chart]'`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stacks.decide import Workload, facts
from stacks.errors import SwitchyardError
from stacks.loader import LoadedProfile
from stacks.profile import Utilization

POINTS = 80
FORMATS = ("png", "svg")


@dataclass(frozen=True)
class Series:
    label: str  # x axis
    unit: str  # of x, in annotations
    xs: list[float]
    serverless: list[float]
    kubernetes: list[float]
    at: float  # the profile's own x
    break_even: list[tuple[float, float]]  # (x, USD) where the cheaper target changes


def _costs(w: Workload, u: Utilization) -> tuple[float, float]:
    f = facts(LoadedProfile(w.profile.model_copy(update={"utilization": u}), w.file, w.settings))
    return f.s_cost.total, f.k_cost.total


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
    xs: list[float], gaps: list[float], cost_at: Callable[[float], tuple[float, float]]
) -> list[tuple[float, float]]:
    """(x, cost) where serverless - kubernetes changes sign, refined by bisection."""
    found = []
    for i in range(1, len(xs)):
        if (gaps[i - 1] < 0) == (gaps[i] < 0):
            continue
        lo, hi = xs[i - 1], xs[i]
        for _ in range(40):
            mid = (lo + hi) / 2
            s, k = cost_at(mid)
            if ((s - k) < 0) == (gaps[i - 1] < 0):
                lo = mid
            else:
                hi = mid
        x = (lo + hi) / 2
        found.append((x, max(cost_at(x))))
    return found


def _series(
    label: str, unit: str, xs: list[float], at: float, cost_at: Callable[[float], tuple[float, float]]
) -> Series:
    costs = [cost_at(x) for x in xs]
    s = [c[0] for c in costs]
    k = [c[1] for c in costs]
    gaps = [a - b for a, b in zip(s, k, strict=True)]
    return Series(label, unit, xs, s, k, at, _crossings(xs, gaps, cost_at))


def rps_series(w: Workload) -> Series:
    """From idle to the peak sustained all the active hours, the peak fixed."""
    u = w.profile.utilization
    top = u.peak_rps or u.avg_rps or 1.0
    xs = [top * i / POINTS for i in range(1, POINTS + 1)]
    label = f"average requests/s over the active hours (peak {u.peak_rps:g} held, {u.active_hours_per_day:g} h/day)"
    return _series(label, "rps", xs, u.avg_rps, lambda x: _costs(w, at_rps(w, x)))


def hours_series(w: Workload) -> Series:
    u = w.profile.utilization
    xs = [0.5 * i for i in range(1, 49)]
    label = f"active hours a day (at {u.avg_rps:g} requests/s average)"
    return _series(label, "h/day", xs, u.active_hours_per_day, lambda x: _costs(w, at_hours(w, x)))


def _money(x: float) -> str:
    # Escaped: matplotlib reads $...$ as mathematics.
    return f"\\${x:,.0f}" if x >= 100 or x == int(x) else f"\\${x:,.2f}"


def draw(w: Workload, out: Path, fmt: str = "png") -> Path:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SwitchyardError(
            "plan --chart needs matplotlib, an optional extra: pip install 'switchyard-iac[chart]'"
        ) from None
    d = w.decision
    ruled_out = [r.rule.split(".", 1)[1] for r in d.fired() if r.rule.startswith(("limit.", "sla.latency"))]
    s_label = f"serverless ({d.serverless.architecture})"
    if ruled_out:
        s_label += f", ruled out: {', '.join(ruled_out)}"
    from matplotlib.ticker import FuncFormatter

    s_here, k_here = d.serverless_cost.total, d.kubernetes_cost.total
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    for ax, series in zip(axes, (rps_series(w), hours_series(w)), strict=True):
        ax.plot(
            series.xs,
            series.serverless,
            color="#d95f02",
            linestyle="--" if ruled_out else "-",
            label=s_label,
        )
        ax.plot(series.xs, series.kubernetes, color="#1b9e77", label="kubernetes")
        for x, cost in series.break_even:
            ax.axvline(x, color="#7570b3", linestyle=":", linewidth=1.2)
            ax.plot([x], [cost], marker="D", color="#7570b3", markersize=5)
        if series.break_even:
            title = "break-even at " + ", ".join(
                f"{x:,.3g} {series.unit} ({_money(cost)}/month)" for x, cost in series.break_even
            )
        else:
            cheaper = "serverless" if series.serverless[-1] < series.kubernetes[-1] else "kubernetes"
            title = f"no break-even in this range: {cheaper} is cheaper throughout"
        ax.set_title(title, fontsize=9, color="#7570b3")
        ax.scatter(
            [series.at, series.at],
            [s_here, k_here],
            color=["#d95f02", "#1b9e77"],
            edgecolors="black",
            zorder=3,
            label=f"this profile -> {d.target.value}: {_money(s_here)} vs {_money(k_here)}",
        )
        ax.set_xlabel(series.label, fontsize=9)
        ax.set_ylabel("USD per month")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: _money(y)))
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(f"{w.name}: monthly cost of both targets against traffic (price book, {w.settings.platform.region})")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{w.name}.{fmt}"
    tmp = path.with_name(f".{path.name}.tmp")
    metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    fig.savefig(tmp, format=fmt, dpi=110, metadata=metadata)
    plt.close(fig)
    tmp.replace(path)
    return path
