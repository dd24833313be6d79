"""`switchyard simulate --chart DIR`: load, capacity and latency over the simulated span, per target."""

from __future__ import annotations

from pathlib import Path

from stacks.errors import SwitchyardError
from stacks.simulate.results import TargetResult

FORMATS = ("png", "svg")


def draw(name: str, p99_sla_ms: float, results: list[TargetResult], out: Path, fmt: str = "png") -> Path:
    try:  # matplotlib is an optional extra (chart), loaded only to draw
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SwitchyardError(
            "simulate --chart needs matplotlib, an optional extra: pip install 'switchyard-iac[chart]'"
        ) from None
    fig, axes = plt.subplots(2, len(results), figsize=(6.5 * len(results), 6.4), squeeze=False, sharex="col")
    for col, r in enumerate(results):
        tl = r.timeline
        hours = [t / 3600 for t in tl.starts]
        load, cap = axes[0][col], axes[0][col].twinx()
        load.fill_between(hours, tl.load_rps, step="post", color="#7570b3", alpha=0.35, label="arrivals/s")
        cap.step(hours, tl.capacity, where="post", color="#1b9e77", label=f"ready {r.capacity_unit.split('-')[0]}s")
        refused = [n / tl.bucket_s for n in tl.refused]
        if any(refused):
            load.step(hours, refused, where="post", color="#d95f02", label="refused/throttled/timed out per s")
        s = r.summary
        load.set_title(
            f"{r.target}: {s.requests:,} requests, {s.requests - s.served:,} not served, "
            f"cold {s.cold_share:.2%}, ${r.cost.total:,.2f}/month",
            fontsize=9,
        )
        load.set_ylabel("requests/s")
        cap.set_ylabel(r.capacity_unit.replace("-hours", "s") + " ready")
        cap.set_ylim(bottom=0)
        load.set_ylim(bottom=0)
        lines = load.get_legend_handles_labels()
        more = cap.get_legend_handles_labels()
        load.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="upper left")
        lat = axes[1][col]
        series = ((tl.p50_ms, "p50", "#1b9e77"), (tl.p99_ms, "p99", "#d95f02"), (tl.max_ms, "max", "#e7298a"))
        for values, label, color in series:
            xs = [h for h, v in zip(hours, values, strict=True) if v is not None]
            ys = [v for v in values if v is not None]
            lat.plot(xs, ys, ".", markersize=2.5, color=color, label=f"{label} per {tl.bucket_s:g} s")
        lat.axhline(p99_sla_ms, color="black", linestyle=":", linewidth=1, label="SLA p99")
        lat.set_yscale("log")
        lat.set_ylabel("latency, ms (log)")
        lat.set_xlabel("hours from 00:00 of the first simulated day (UTC for a trace)")
        lat.legend(fontsize=7, loc="upper left")
        lat.grid(True, alpha=0.3)
    fig.suptitle(f"{name}: simulated load, capacity and latency")
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.simulated.{fmt}"
    tmp = path.with_name(f".{path.name}.tmp")
    metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    fig.savefig(tmp, format=fmt, dpi=100, metadata=metadata)
    plt.close(fig)
    tmp.replace(path)
    return path
