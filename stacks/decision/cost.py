"""Bills: a target's monthly cost from the price book, as line items a finance team would recognise.

Each target builds its bill with `Bill` (stacks/targets/<name>/bill.py). Each line is quantity x
unit price, with the price book entry it comes from and how the quantity was derived, so a
reader can redo it by hand; the tests do. A month is 730 hours (AWS's
convention), so a day is 730 / 24 of a month's days. Each line is rounded to the cent and the
total is the sum of the lines, as on a bill. Free tiers are not counted.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, ConfigDict

from stacks.pricebook import HOURS_PER_MONTH, PriceBook, price_source
from stacks.profile import Profile

DAYS_PER_MONTH = HOURS_PER_MONTH / 24
GIB = 1024**3


def cents(x: float) -> float:
    """Half-up to the cent, as a bill rounds; float noise below a millionth of a dollar is dropped first
    (109.5 GB x $0.03 is 3.2849999... in binary, and a bill says $3.29)."""
    return float(Decimal(repr(round(x, 6))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


class LineItem(BaseModel):
    """One line of the bill: quantity x unit price."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    quantity: float
    unit: str  # what the quantity counts, e.g. "GB-s", "requests", "GB-month"
    unit_price_usd: float
    price: str  # the price book entry (prices.<price>) the unit price comes from
    source: str  # that entry's description and as_of date
    basis: str  # how the quantity was derived, with the numbers

    @property
    def exact_usd(self) -> float:
        return self.quantity * self.unit_price_usd

    @property
    def usd(self) -> float:
        return cents(self.exact_usd)


class Cost(BaseModel):
    """A monthly cost in USD made of line items."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lines: list[LineItem]
    notes: list[str] = []

    @property
    def items(self) -> dict[str, float]:
        """name -> USD, lines of the same name summed."""
        out: dict[str, float] = {}
        for line in self.lines:
            out[line.name] = cents(out.get(line.name, 0.0) + line.usd)
        return out

    @property
    def total(self) -> float:
        return cents(sum(line.usd for line in self.lines))


class Bill:
    """Collects lines, pricing each from its price book entry."""

    def __init__(self, prices: PriceBook) -> None:
        self.prices = prices
        self.lines: list[LineItem] = []

    def add(
        self, name: str, quantity: float, unit: str, price: str, basis: str, *, unit_price: float | None = None
    ) -> None:
        value = getattr(self.prices, price) if unit_price is None else unit_price
        as_of = self.prices.as_of.get(price)  # type: ignore[call-overload]
        dated = f"as of {as_of.isoformat()}" if as_of else "set by your platform file or overrides"
        self.lines.append(
            LineItem(
                name=name,
                quantity=quantity,
                unit=unit,
                unit_price_usd=value,
                price=price,
                source=f"{price_source(price)} ({dated})",
                basis=basis,
            )
        )


def figure(x: float) -> str:
    """A quantity in a basis sentence: four significant digits, or whole from a thousand."""
    return f"{x:,.4g}" if abs(x) < 1000 else f"{x:,.0f}"


def monthly_requests(p: Profile) -> float:
    u = p.utilization
    return u.avg_rps * u.active_hours_per_day * 3600 * DAYS_PER_MONTH
