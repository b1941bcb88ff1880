"""Bucket records: buckets with their full state, satellite settings, allocation settings
and signed ledger entries, each checking its own invariants. They cross the satellites'
repositories, so they live below the domain rules that use them.

Every state the reference computed but never stored is a field here (re-awakening stage,
wins and trades, cooldown start and trigger gain, last reallocation), so it survives a
restart. Fractions (targets, sliders) are exact ``Decimal``; money is ``Decimal`` EUR.
Records are frozen: every rule returns a new record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from .money import ZERO, InvalidAmount, decimal_to_str, parse_decimal

CORE_ID = "core"
ONE = Decimal(1)

BucketType = Literal["core", "satellite"]
BucketStatus = Literal["research", "accumulating", "active", "hibernating", "paused",
                       "retired"]
STATUSES: tuple[str, ...] = ("research", "accumulating", "active", "hibernating", "paused",
                             "retired")
TRADING_STATUSES: frozenset[str] = frozenset({"active", "accumulating"})
DividendHandling = Literal["reinvest_same", "send_to_core", "accumulate_cash"]
DIVIDEND_HANDLINGS: tuple[str, ...] = ("reinvest_same", "send_to_core", "accumulate_cash")

EntryType = Literal["deposit", "reallocation", "trade_buy", "trade_sell", "dividend",
                    "transfer_in", "transfer_out", "withdrawal", "fee", "reconciliation",
                    "maturity"]
ENTRY_TYPES: tuple[str, ...] = ("deposit", "reallocation", "trade_buy", "trade_sell",
                                "dividend", "transfer_in", "transfer_out", "withdrawal",
                                "fee", "reconciliation", "maturity")
SourceKind = Literal["cash_flow", "trade", "dividend", "manual", "reconcile", "realloc"]
SOURCE_KINDS: tuple[str, ...] = ("cash_flow", "trade", "dividend", "manual", "reconcile",
                                 "realloc")
# Entry types that move cash between buckets (zero-sum, never make a balance negative)
# and those that are external flows for the flow-adjusted high-water mark.
INTERNAL_TYPES: frozenset[str] = frozenset({"transfer_in", "transfer_out", "reallocation"})
EXTERNAL_FLOW_TYPES: frozenset[str] = frozenset({"deposit", "withdrawal", "transfer_in",
                                                 "transfer_out", "reallocation"})


class SatelliteError(ValueError):
    """A satellite rule refused an operation; ``code`` is stable for the API."""

    code = "satellite_rule"


class InvalidBucket(SatelliteError):
    """A bucket or settings value that breaks the schema rules (bad input)."""

    code = "invalid_bucket"


def check_fraction(value: Decimal, what: str) -> Decimal:
    """``value`` if it is a finite Decimal in [0, 1], else :class:`InvalidBucket`."""
    if not isinstance(value, Decimal) or not value.is_finite() or not ZERO <= value <= ONE:
        raise InvalidBucket(f"{what} must be a fraction in [0, 1], got {value!r}")
    return value


@dataclass(frozen=True)
class ReawakeningState:
    """Graduated re-awakening: ``stage`` 0 = not re-awakening, 1..3 in progress
    (×0.25, ×0.50, ×0.75); ``wins`` consecutive wins and ``trades`` trades since the
    recovery."""

    stage: int = 0
    wins: int = 0
    trades: int = 0

    @property
    def active(self) -> bool:
        """True while the bucket is still re-awakening."""
        return self.stage > 0


@dataclass(frozen=True)
class CooldownState:
    """Win cooldown: when it started and the return that triggered it."""

    started_at: datetime | None = None
    trigger_gain: Decimal | None = None


@dataclass(frozen=True)
class Bucket:
    """One bucket: core or a satellite, with its lifecycle and risk state.

    ``target_pct``/``min_pct``/``max_pct`` are fractions of the whole portfolio;
    ``high_water_mark`` is EUR, flow-adjusted (external flows move it, returns do not).
    """

    id: str
    name: str
    type: BucketType
    status: BucketStatus
    created_at: datetime
    updated_at: datetime
    notes: str = ""
    target_pct: Decimal = ZERO
    min_pct: Decimal = ZERO
    max_pct: Decimal = ONE
    consecutive_losses: int = 0
    max_consecutive_losses: int = 5
    high_water_mark: Decimal = ZERO
    high_water_mark_date: datetime | None = None
    loss_streak_paused_at: datetime | None = None
    reawakening: ReawakeningState = field(default_factory=ReawakeningState)
    cooldown: CooldownState = field(default_factory=CooldownState)
    last_reallocated_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.id or not self.id.strip():
            raise InvalidBucket("bucket id must not be empty")
        if (self.id == CORE_ID) != (self.type == "core"):
            raise InvalidBucket("the core bucket has id 'core' and type 'core', only it")
        if self.status not in STATUSES:
            raise InvalidBucket(f"unknown status {self.status!r}")
        for name in ("target_pct", "min_pct", "max_pct"):
            check_fraction(getattr(self, name), name)
        if self.min_pct > self.max_pct:
            raise InvalidBucket(f"min_pct {self.min_pct} > max_pct {self.max_pct}")
        if self.max_consecutive_losses < 1 or self.consecutive_losses < 0:
            raise InvalidBucket("loss counters must be >= 0 and the limit >= 1")
        if not self.high_water_mark.is_finite() or self.high_water_mark < 0:
            raise InvalidBucket(f"high-water mark must be >= 0, got {self.high_water_mark}")

    @property
    def is_core(self) -> bool:
        """True for the core bucket."""
        return self.type == "core"

    @property
    def trading_allowed(self) -> bool:
        """Trading is allowed only when active or accumulating."""
        return self.status in TRADING_STATUSES

    @property
    def receives_deposits(self) -> bool:
        """"Active buckets" for deposits: not retired, not paused."""
        return self.status not in ("retired", "paused")

    def touched(self, now: datetime, **changes: object) -> Bucket:
        """A copy with ``changes`` applied and ``updated_at`` = ``now``."""
        return replace(self, updated_at=now, **changes)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        """JSON form: decimals as strings, times as ISO-8601, nested state flattened."""
        def show(value: object) -> object:
            if isinstance(value, Decimal):
                return decimal_to_str(value)
            if isinstance(value, datetime):
                return value.isoformat()
            return value

        out = {k: show(v) for k, v in self.__dict__.items()
               if k not in ("reawakening", "cooldown")}
        out.update(reawaken_stage=self.reawakening.stage, reawaken_wins=self.reawakening.wins,
                   reawaken_trades=self.reawakening.trades,
                   cooldown_started_at=show(self.cooldown.started_at),
                   cooldown_trigger_gain=show(self.cooldown.trigger_gain),
                   trading_allowed=self.trading_allowed)
        return out


def new_core(now: datetime, satellite_targets: Decimal = ZERO) -> Bucket:
    """The core bucket as created at first start: active, target 1 − Σ satellite targets."""
    return Bucket(id=CORE_ID, name="Core", type="core", status="active", created_at=now,
                  updated_at=now, target_pct=ONE - satellite_targets, min_pct=ZERO,
                  max_pct=ONE)


_SLIDERS = ("risk_appetite", "hold_duration", "entry_style", "position_spread",
            "profit_taking")
HALF = Decimal("0.5")


@dataclass(frozen=True)
class SatelliteSettings:
    """A satellite's strategy settings (table ``satellite_settings``).

    Sliders are fractions in [0, 1]; a real 0 stays 0 (the reference turned it into 0.5).
    """

    satellite_id: str
    preset: str | None = None
    risk_appetite: Decimal = HALF
    hold_duration: Decimal = HALF
    entry_style: Decimal = HALF
    position_spread: Decimal = HALF
    profit_taking: Decimal = HALF
    trailing_stops: bool = False
    follow_regime: bool = False
    auto_harvest: bool = False
    pause_high_volatility: bool = False
    dividend_handling: DividendHandling = "reinvest_same"
    risk_free_rate: Decimal = Decimal("0.035")
    sortino_mar: Decimal = Decimal("0.05")
    evaluation_period_days: int = 90
    volatility_window: int = 60

    def __post_init__(self) -> None:
        for name in _SLIDERS:
            check_fraction(getattr(self, name), name)
        if self.dividend_handling not in DIVIDEND_HANDLINGS:
            raise InvalidBucket(f"dividend_handling must be one of {DIVIDEND_HANDLINGS}, "
                                f"got {self.dividend_handling!r}")
        check_fraction(self.risk_free_rate, "risk_free_rate")
        check_fraction(self.sortino_mar, "sortino_mar")
        if not 1 <= self.evaluation_period_days <= 3650:
            raise InvalidBucket("evaluation_period_days must be in [1, 3650]")
        if not 2 <= self.volatility_window <= 3650:
            raise InvalidBucket("volatility_window must be in [2, 3650]")

    def sliders(self) -> dict[str, Decimal]:
        """The five sliders by name."""
        return {name: getattr(self, name) for name in _SLIDERS}

    @classmethod
    def from_mapping(cls, satellite_id: str, data: Mapping[str, Any]) -> SatelliteSettings:
        """Validated settings from a JSON object (PUT replaces them all; absent keys take
        the defaults). Unknown keys, non-numbers, non-booleans → :class:`InvalidBucket`."""
        unknown = set(data) - _SETTINGS_FIELDS
        if unknown:
            raise InvalidBucket(f"unknown settings: {sorted(unknown)}")
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if key in _BOOL_FIELDS:
                if not isinstance(raw, bool):
                    raise InvalidBucket(f"{key} must be true or false, got {raw!r}")
                values[key] = raw
            elif key in _INT_FIELDS:
                if isinstance(raw, bool) or not isinstance(raw, int):
                    raise InvalidBucket(f"{key} must be a whole number, got {raw!r}")
                values[key] = raw
            elif key in ("preset", "dividend_handling"):
                if raw is not None and not isinstance(raw, str):
                    raise InvalidBucket(f"{key} must be text, got {raw!r}")
                values[key] = raw
            else:
                try:
                    values[key] = parse_decimal(raw, field=key)
                except InvalidAmount as exc:
                    raise InvalidBucket(str(exc)) from exc
        if values.get("dividend_handling", "reinvest_same") is None:
            raise InvalidBucket("dividend_handling must be set")
        return cls(satellite_id=satellite_id, **values)

    def to_json(self) -> dict[str, Any]:
        """JSON form (decimals as strings)."""
        return {k: decimal_to_str(v) if isinstance(v, Decimal) else v
                for k, v in self.__dict__.items()}


_BOOL_FIELDS = frozenset({"trailing_stops", "follow_regime", "auto_harvest",
                          "pause_high_volatility"})
_INT_FIELDS = frozenset({"evaluation_period_days", "volatility_window"})
_SETTINGS_FIELDS = frozenset({"preset", "dividend_handling", "risk_free_rate", "sortino_mar",
                              *_SLIDERS, *_BOOL_FIELDS, *_INT_FIELDS})

SATELLITE_BUDGET_CAP = Decimal("0.30")

# The single source of the allocation defaults; the migration seeds the same values
# (a test checks they agree).
ALLOCATION_DEFAULTS: Mapping[str, Decimal] = {
    "satellite_budget_pct": Decimal("0.00"),
    "satellite_min_pct": Decimal("0.02"),
    "satellite_max_pct": Decimal("0.15"),
    "evaluation_months": Decimal("3"),
    "reallocation_dampening": Decimal("0.5"),
    "default_risk_free_rate": Decimal("0.035"),
    "default_sortino_mar": Decimal("0.05"),
    "default_evaluation_days": Decimal("90"),
}


@dataclass(frozen=True)
class AllocationSettings:
    """The ``allocation_settings`` table as a typed record."""

    satellite_budget_pct: Decimal = ALLOCATION_DEFAULTS["satellite_budget_pct"]
    satellite_min_pct: Decimal = ALLOCATION_DEFAULTS["satellite_min_pct"]
    satellite_max_pct: Decimal = ALLOCATION_DEFAULTS["satellite_max_pct"]
    evaluation_months: int = int(ALLOCATION_DEFAULTS["evaluation_months"])
    reallocation_dampening: Decimal = ALLOCATION_DEFAULTS["reallocation_dampening"]
    default_risk_free_rate: Decimal = ALLOCATION_DEFAULTS["default_risk_free_rate"]
    default_sortino_mar: Decimal = ALLOCATION_DEFAULTS["default_sortino_mar"]
    default_evaluation_days: int = int(ALLOCATION_DEFAULTS["default_evaluation_days"])

    def __post_init__(self) -> None:
        check_fraction(self.satellite_budget_pct, "satellite_budget_pct")
        if self.satellite_budget_pct > SATELLITE_BUDGET_CAP:
            raise InvalidBucket(f"satellite budget is capped at {SATELLITE_BUDGET_CAP}")
        check_fraction(self.satellite_min_pct, "satellite_min_pct")
        check_fraction(self.satellite_max_pct, "satellite_max_pct")
        if self.satellite_min_pct > self.satellite_max_pct:
            raise InvalidBucket("satellite_min_pct must be <= satellite_max_pct")
        check_fraction(self.reallocation_dampening, "reallocation_dampening")
        if not 1 <= self.evaluation_months <= 24:
            raise InvalidBucket("evaluation_months must be in [1, 24]")

    @classmethod
    def from_rows(cls, rows: Mapping[str, Decimal]) -> AllocationSettings:
        """Build from ``allocation_settings`` rows; unknown keys are refused."""
        unknown = set(rows) - set(ALLOCATION_DEFAULTS)
        if unknown:
            raise InvalidBucket(f"unknown allocation settings: {sorted(unknown)}")
        values = {**ALLOCATION_DEFAULTS, **rows}
        return cls(
            satellite_budget_pct=values["satellite_budget_pct"],
            satellite_min_pct=values["satellite_min_pct"],
            satellite_max_pct=values["satellite_max_pct"],
            evaluation_months=int(values["evaluation_months"]),
            reallocation_dampening=values["reallocation_dampening"],
            default_risk_free_rate=values["default_risk_free_rate"],
            default_sortino_mar=values["default_sortino_mar"],
            default_evaluation_days=int(values["default_evaluation_days"]),
        )


@dataclass(frozen=True)
class LedgerEntry:
    """One signed row of ``bucket_transactions`` (inflow > 0, outflow < 0).

    ``(source_kind, source_id, bucket_id, type)`` is unique: re-processing a broker
    record or retrying a request is a no-op.
    """

    bucket_id: str
    currency: str
    type: EntryType
    amount: Decimal
    source_kind: SourceKind
    source_id: str
    created_at: datetime
    description: str = ""

    def __post_init__(self) -> None:
        if self.type not in ENTRY_TYPES:
            raise InvalidBucket(f"unknown ledger entry type {self.type!r}")
        if self.source_kind not in SOURCE_KINDS:
            raise InvalidBucket(f"unknown source kind {self.source_kind!r}")
        if not self.source_id:
            raise InvalidBucket("a ledger entry needs a source id")
        if not self.amount.is_finite():
            raise InvalidBucket("ledger amounts must be finite")

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The idempotency key (source_kind, source_id, bucket_id, type)."""
        return (self.source_kind, self.source_id, self.bucket_id, self.type)
