"""Which bucket holds what: one broker position split
across the buckets by the fills attributed to them.

A satellite holds the net quantity its own fills bought (never below 0); core holds the
rest — its own fills and every holding that predates the attribution (positions default
to core). When the satellites' claims exceed the broker position (the broker sold or
moved shares outside our fills), the position is shared among the satellites in
proportion to their claims, in whole quanta of the position's precision (largest
remainder), and core holds none of it. So per symbol the buckets always add up to the
broker quantity exactly, and no two buckets both claim the whole position.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from decimal import ROUND_FLOOR, Decimal

from arduino_trader.protocols.money import ZERO
from arduino_trader.protocols.satellite_records import CORE_ID

MIN_EXPONENT = -8  # quantities are never finer than 1e-8


def _quantum(values: Collection[Decimal]) -> Decimal:
    exponent = min((int(v.as_tuple().exponent) for v in values if v.is_finite()), default=0)
    return Decimal(1).scaleb(max(MIN_EXPONENT, min(0, exponent)))


def _share(total: Decimal, claims: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """``total`` split in proportion to ``claims`` (Σ claims > total > 0), exactly."""
    quantum = _quantum([total, *claims.values()])
    units = int(total / quantum)
    whole = sum(claims.values(), ZERO)
    exact = {b: Decimal(units) * c / whole for b, c in claims.items()}
    floors = {b: int(x.to_integral_value(ROUND_FLOOR)) for b, x in exact.items()}
    left = units - sum(floors.values())
    for b in sorted(exact, key=lambda k: (-(exact[k] - floors[k]), k))[:left]:
        floors[b] += 1
    return {b: n * quantum for b, n in floors.items() if n}


def bucket_positions(account: Mapping[str, Decimal],
                     fills: Mapping[str, Mapping[str, Decimal]],
                     buckets: Collection[str] | None = None
                     ) -> dict[str, dict[str, Decimal]]:
    """{bucket: {symbol: quantity}} of the broker positions ``account`` ({symbol: qty}),
    attributed by ``fills`` ({bucket: {symbol: net filled quantity}}).

    Only satellites in ``buckets`` claim (None = every bucket in ``fills``); an unknown
    bucket's fills and core's own fills are part of core's rest. A symbol the broker does
    not hold belongs to nobody; a short broker position stays with core.
    """
    out: dict[str, dict[str, Decimal]] = {}
    for symbol, quantity in sorted(account.items()):
        if quantity == 0:
            continue
        claims = {b: q for b, per in fills.items() if b != CORE_ID
                  and (buckets is None or b in buckets)
                  and (q := per.get(symbol, ZERO)) > 0}
        if quantity < 0 or not claims:
            out.setdefault(CORE_ID, {})[symbol] = quantity
            continue
        claimed = sum(claims.values(), ZERO)
        shares = dict(claims) if claimed <= quantity else _share(quantity, claims)
        rest = quantity - sum(shares.values(), ZERO)
        if rest:
            shares[CORE_ID] = rest
        for bucket, qty in shares.items():
            out.setdefault(bucket, {})[symbol] = qty
    return out


def average_costs(fills: Iterable[tuple[str, str, str, Decimal, Decimal]]
                  ) -> dict[str, dict[str, Decimal]]:
    """{bucket: {symbol: average cost per share}} of the open quantity each bucket's own
    fills left, oldest first: a buy adds its quantity at its price, a sale removes
    quantity at the average (a sale beyond the quantity closes it). ``fills`` are
    (bucket, symbol, side, quantity, price) in the security's currency."""
    held: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    for bucket, symbol, side, quantity, price in fills:
        qty, cost = held.get((bucket, symbol), (ZERO, ZERO))
        if side == "BUY":
            qty, cost = qty + quantity, cost + quantity * price
        elif qty > 0:
            sold = min(quantity, qty)
            cost -= cost / qty * sold
            qty -= sold
        held[(bucket, symbol)] = (qty, cost)
    out: dict[str, dict[str, Decimal]] = {}
    for (bucket, symbol), (qty, cost) in sorted(held.items()):
        if qty > 0:
            out.setdefault(bucket, {})[symbol] = cost / qty
    return out


__all__ = ["average_costs", "bucket_positions"]
