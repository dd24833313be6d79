"""The workload in one phrase, for a reason that refuses it: what it runs on (CPU or GPU), how callers
reach it (mode) and how much traffic, as the profile says. A refusal that names the workload wrongly
("a steady synchronous GPU load" for a CPU model) sends the user to fix the wrong thing."""

from __future__ import annotations

from stacks.profile import Gpu, Profile


def workload_phrase(p: Profile) -> str:
    """e.g. "a GPU model (L4:1), mode async, 8 rps average (peak 20)"."""
    m, u = p.model, p.utilization
    if m.gpu is Gpu.required:
        kind = f"a GPU model ({m.accelerator})" if m.accelerator else "a GPU model"
    elif m.gpu is Gpu.optional:
        kind = "a model that runs on CPU or GPU (gpu: optional)"
    else:
        kind = "a CPU model (gpu: none)"
    return f"{kind}, mode {p.sla.mode.value}, {u.avg_rps:g} rps average (peak {u.peak_rps:g})"
