"""A rule's verdict: a stable id, whether it fired, and one sentence with the numbers that drove it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Reason(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str  # stable id, e.g. "limit.memory", "cost.compare"
    fired: bool  # True when the rule pushed the decision or the sizing
    detail: str  # one sentence with the numbers that drove it


def usd(x: float) -> str:
    return f"${x:,.2f}"


def cmp(over: bool) -> str:
    """The comparison a sentence states: over the limit, or within it."""
    return ">" if over else "<="
