"""The bucket-cash safety layer: once satellites exist, a buy is paid from its bucket's
own ledger cash (EUR over every currency, fees included); unknown cash blocks; sells
and an account without satellites are not judged by it."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from test_execution_safety import LIMITS, code, facts, intent

from arduino_trader.domain.execution.bucket_cash import (
    BucketCash,
    OpenBuy,
    committed_eur,
    ledger_applies,
    ledger_cash_eur,
)
from arduino_trader.domain.execution.safety import evaluate


def test_a_buy_needs_its_buckets_ledger_cash_fees_included() -> None:
    # 10 × 100 USD × 1.01 + 2 EUR × 1.1 + 0.2 % = 1014.22 USD = 922.018 EUR at 1.1
    assert code(intent(), facts(bucket=BucketCash("sat1", Decimal("922.02")))) is None
    assert code(intent(), facts(bucket=BucketCash("sat1", Decimal("922.01")))) == \
        "bucket_cash_insufficient"
    verdict = evaluate(intent(), facts(bucket=BucketCash("sat1", Decimal(0))), LIMITS)
    assert verdict.rejection is not None and verdict.rejection.layer == "bucket_cash"
    assert "sat1" in verdict.rejection.message and "fees" in verdict.rejection.message


def test_unknown_bucket_cash_blocks_a_buy_but_not_a_sell() -> None:
    unknown = facts(bucket=BucketCash("core", None))
    assert code(intent(), unknown) == "bucket_cash_unknown"
    assert code(intent("SELL"), unknown) is None


def test_without_satellites_only_the_broker_cash_counts() -> None:
    assert not ledger_applies(["core"]) and ledger_applies(["core", "sat1"])
    assert code(intent(), facts(bucket=None)) is None


def test_ledger_cash_is_signed_and_never_converted_one_to_one() -> None:
    rates = {"EUR": Decimal(1), "USD": Decimal("0.9")}
    assert ledger_cash_eur({"EUR": Decimal(100), "USD": Decimal(-50)}, rates) == Decimal(55)
    assert ledger_cash_eur({"GBP": Decimal(10)}, rates) is None
    assert ledger_cash_eur({"GBP": Decimal(0)}, rates) == 0


@settings(max_examples=300, deadline=None)
@given(qty=st.integers(1, 40), cash=st.decimals(-1000, 10_000, places=2))
def test_an_allowed_buy_is_covered_by_its_buckets_cash(qty: int, cash: Decimal) -> None:
    f = dataclasses.replace(facts(cash={"USD": Decimal(10**6)}),
                            bucket=BucketCash("sat1", cash))
    verdict = evaluate(intent("BUY", str(qty)), f, LIMITS)
    value = qty * Decimal(100) * Decimal("1.01")
    need = (value + Decimal(2) * Decimal("1.1") + value * Decimal("0.002")) / Decimal("1.1")
    assert verdict.allowed == (cash >= need)
    if not verdict.allowed:
        assert verdict.rejection is not None
        assert verdict.rejection.code == "bucket_cash_insufficient"


def test_open_buys_commit_their_buckets_cash() -> None:
    """Two buys sent one after the other never spend the same ledger cash: what a
    bucket's open buys will still spend (unfilled rest × limit, in EUR) is taken off."""
    rates = {"EUR": Decimal(1), "USD": Decimal("0.9")}
    buys = (OpenBuy("sat1", "USD", Decimal(2), Decimal(100)),
            OpenBuy("sat1", "EUR", Decimal(1), Decimal(50)),
            OpenBuy("core", "USD", Decimal(100), Decimal(100)),
            OpenBuy("sat1", "USD", Decimal(0), Decimal(100)))  # filled rest: nothing
    assert committed_eur(buys, "sat1", rates) == Decimal(230)
    assert committed_eur(buys, "sat2", rates) == 0
    assert committed_eur((OpenBuy("sat1", "GBP", Decimal(1), Decimal(1)),), "sat1",
                         rates) is None
    # the buy that 922.02 EUR of ledger cash covers alone is refused once 0.01 EUR of
    # it is committed to an open buy
    assert code(intent(), facts(bucket=BucketCash("sat1", Decimal("922.02"),
                                                  Decimal(0)))) is None
    refused = evaluate(intent(), facts(bucket=BucketCash("sat1", Decimal("922.02"),
                                                         Decimal("0.01"))), LIMITS)
    assert refused.rejection is not None
    assert refused.rejection.code == "bucket_cash_insufficient"
    assert "0.01 EUR of it committed to open buys" in refused.rejection.message
