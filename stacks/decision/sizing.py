"""Sizing helpers every target shares. Sizing follows Little's law: concurrency = arrival rate x
time in system; each target sizes itself (stacks/targets/<name>/sizing.py) from these.

Pure functions of a profile and the platform settings. Only the decision calls the sizing; the
target builders read the results from the Decision and never size anything themselves.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from stacks.pricebook import Platform
from stacks.profile import Preset, Profile


class Frozen(BaseModel):
    """A sizing: immutable, and every field declared (a typo is an error, not a new figure)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def image_gb(p: Profile, platform: Platform, *, gpu_image: bool) -> float:
    if p.model.image_gb is not None:
        return p.model.image_gb
    if p.model.preset is Preset.vllm:
        return platform.image_estimate_vllm_gb
    return platform.image_estimate_gpu_gb if gpu_image else platform.image_estimate_cpu_gb


def read_ms(gb: float, mb_per_s: float) -> float:
    """Milliseconds to move `gb` at `mb_per_s` (decimal units, as the rates are stated)."""
    return gb * 1000 / mb_per_s * 1000


def sustained_utilization(p: Profile) -> float:
    """Average load over the day as a share of the peak held around the clock."""
    u = p.utilization
    return (u.avg_rps * u.active_hours_per_day) / (u.peak_rps * 24) if u.peak_rps else 0.0
