"""Health's view of reconciliation: a gap beyond the auto-correct limit is named with gap
and limit in the gap's own currency; small or deferred gaps keep the ledger ok."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from arduino_trader.domain.satellites import reconciliation
from arduino_trader.domain.satellites.balances import BalanceBook
from arduino_trader.protocols.satellite_records import LedgerEntry

D = Decimal
NOW = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)


def _book(usd: str) -> BalanceBook:
    return BalanceBook.from_entries((LedgerEntry(
        bucket_id="core", currency="USD", type="deposit", amount=D(usd),
        source_kind="manual", source_id="seed", created_at=NOW),))


def test_a_gap_beyond_the_limit_is_stated_in_its_own_currency() -> None:
    outcome = reconciliation.reconcile(_book("15000"), "USD", D("9592.50"), NOW,
                                       eur_per_unit=D("0.92"), threshold_eur=D("5"))
    assert outcome.status == "gap_reported"
    assert outcome.message == (
        "ledger above broker cash by 5407.50 USD (4974.90 EUR), beyond the auto-correct "
        "limit of 5.43 USD (5 EUR): manual intervention required")
    level, message = reconciliation.ledger_health({"USD": outcome})
    assert level == "degraded" and message.endswith(outcome.message)
    assert "USD: ledger above" in message


def test_small_deferred_and_matching_ledgers_keep_health_ok() -> None:
    small = reconciliation.reconcile(_book("100"), "USD", D("99"), NOW,
                                     eur_per_unit=D("0.92"), threshold_eur=D("5"))
    deferred = reconciliation.reconcile(_book("100"), "USD", D("50"), NOW,
                                        eur_per_unit=D("0.92"), blocked_by="orders open")
    same = reconciliation.reconcile(_book("100"), "USD", D("100"), NOW, eur_per_unit=None)
    assert (small.status, deferred.status, same.status) == ("corrected", "deferred",
                                                            "reconciled")
    assert reconciliation.ledger_health({"USD": small}) == (
        "ok", "bucket ledger agrees with broker cash")
    assert reconciliation.ledger_health({"USD": deferred, "EUR": same}) == (
        "ok", "bucket ledger agrees with broker cash (gap deferred in USD)")


def test_a_gap_without_a_rate_degrades() -> None:
    outcome = reconciliation.reconcile(_book("100"), "USD", D("0"), NOW, eur_per_unit=None)
    assert reconciliation.ledger_health({"USD": outcome})[0] == "degraded"
