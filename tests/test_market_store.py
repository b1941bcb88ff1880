"""The market-data tables (migration 0200) through the repository: one history table,
idempotent re-syncs, quarantine, monthly aggregation, exact FX with dates."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from arduino_trader.adapters.store import market_repo as repo
from arduino_trader.adapters.store import market_stats, price_history_repo, securities_repo
from arduino_trader.adapters.store.price_history_repo import SqlitePriceHistory
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.protocols.market_data import FxRate, PriceBar, Quote
from arduino_trader.protocols.price_history import Quarantined
from arduino_trader.protocols.store import StoreError

NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
ISIN = "US0378331005"
REC = {"isin": ISIN, "symbol": "AAPL.US", "name": "Apple", "currency": "USD", "mic": "XNAS"}


def test_securities_insert_update_and_duplicates(io: IoLoop, store: SqliteStore) -> None:
    securities_repo.insert_security(store, REC, NOW)
    with pytest.raises(securities_repo.DuplicateSecurity):
        securities_repo.insert_security(store, {**REC, "isin": "DE0007164600"}, NOW)
    assert securities_repo.insert_securities(store, [REC, {**REC, "isin": "DE0007164600",
                                                       "symbol": "SAP.DE"}], NOW) == 1
    sec = securities_repo.get_security(store, ISIN)
    assert sec is not None and sec["allow_buy"] is True and sec["last_synced"] is None
    assert securities_repo.find_security(store, "AAPL.US")["isin"] == ISIN  # type: ignore[index]
    with pytest.raises(ValueError, match="not editable"):
        securities_repo.update_security(store, ISIN, {"isin": "X"}, NOW)
    assert securities_repo.update_security(store, ISIN, {"min_lot": 3}, NOW) == 1
    with pytest.raises(StoreError):  # the schema refuses what the API would clamp
        securities_repo.update_security(store, ISIN, {"priority_multiplier": 9.0}, NOW)
    securities_repo.fill_missing(store, ISIN, {"country": "US", "mic": "XNYS"}, NOW)
    sec = securities_repo.get_security(store, ISIN)
    assert sec is not None and sec["country"] == "US" and sec["mic"] == "XNAS"
    securities_repo.set_last_synced(store, [ISIN], NOW)
    due = securities_repo.securities_due(store, NOW - timedelta(hours=24))
    assert [d["isin"] for d in due] == ["DE0007164600"]


def test_history_is_one_table_and_resyncs_change_nothing(io: IoLoop, store: SqliteStore
                                                          ) -> None:
    securities_repo.insert_security(store, REC, NOW)
    bars = [PriceBar(date(2024, 1, 1) + timedelta(days=i), 100.0 + i) for i in range(60)]
    q = [Quarantined(date(2024, 3, 1), 0.0, "non_positive", "zero")]
    for _ in range(3):
        assert SqlitePriceHistory(store).write_history({ISIN: (bars, q)}, "test", NOW) == 60
    counts = market_stats.universe_counts(store)
    assert counts["history_rows"] == 60 and counts["quarantined"] == 1
    assert SqlitePriceHistory(store).last_history_days() == {ISIN: date(2024, 2, 29)}
    assert SqlitePriceHistory(store).recent_closes_many([ISIN], 3) == {
        ISIN: [157.0, 158.0, 159.0]}
    months = price_history_repo.monthly_prices(store, ISIN)
    assert [m.month for m in months] == ["2024-01", "2024-02"]
    assert months[0].avg_close == pytest.approx(115.0)
    stored = price_history_repo.read_history(store, ISIN, date(2024, 2, 28))
    assert [b.close for b in stored] == [158.0, 159.0]
    assert price_history_repo.quarantine_list(store, ISIN)[0]["reason"] == "non_positive"
    tables = {r[0] for r in store.fetch_all(
        "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE '%history%'")}
    assert {t for t in tables if "price" in t} == {"price_history"}  # no table per symbol


def test_non_positive_close_cannot_be_stored(io: IoLoop, store: SqliteStore) -> None:
    securities_repo.insert_security(store, REC, NOW)
    with pytest.raises((StoreError, sqlite3.IntegrityError)):
        SqlitePriceHistory(store).write_history({ISIN: ([PriceBar(date(2024, 1, 2), 0.0)], [])},
                                         "test", NOW)
    assert market_stats.universe_counts(store)["history_rows"] == 0


def test_latest_quotes_and_security_data(io: IoLoop, store: SqliteStore) -> None:
    securities_repo.insert_security(store, REC, NOW)
    repo.write_quotes(store, {ISIN: Quote("AAPL", 190.5, "USD", NOW, "t")}, NOW)
    repo.write_quotes(store, {ISIN: Quote("AAPL", 191.5, "USD", NOW, "t")}, NOW)
    quotes = repo.read_quotes(store)
    assert quotes[ISIN].price == 191.5 and quotes[ISIN].as_of == NOW
    repo.write_security_data(store, ISIN, "fundamentals", {"values": {"pe": 30}}, NOW)
    data = repo.read_security_data(store, ISIN)
    assert data["fundamentals"]["data"] == {"values": {"pe": 30}}
    listed = securities_repo.list_securities(store)
    assert listed[0]["last_price"] == 191.5


def test_fx_rates_are_exact_and_dated(io: IoLoop, store: SqliteStore) -> None:
    rates = [FxRate("USD", Decimal("0.9214867"), date(2024, 6, 1), NOW, "yfinance"),
             FxRate("USD", Decimal("0.93"), date(2024, 6, 3), NOW, "broker")]
    repo.write_fx(store, rates, NOW)
    repo.write_fx(store, rates, NOW)
    latest = repo.read_fx(store, "USD")
    assert latest is not None and latest.eur_per == Decimal("0.93") and latest.source == "broker"
    older = repo.read_fx(store, "USD", date(2024, 6, 2))
    assert older is not None and older.eur_per == Decimal("0.9214867")
    assert repo.read_fx(store, "USD", date(2024, 5, 1)) is None
    assert repo.read_fx(store, "GBP") is None


def test_prices_stored_in_pence_are_converted_once(io: IoLoop, tmp_path: Path) -> None:
    """Before the adapter converted minor units, a London listing's history and quote
    were stored in pence (quote currency ``GBp``); migration 0215 turns them into
    pounds once, and leaves every other listing alone."""
    path = tmp_path / "pence.db"
    db = SqliteStore(path)
    db.open()
    at = datetime(2024, 6, 3, 17, 0, tzinfo=UTC)
    for isin, symbol, currency in (("GB00B10RZP78", "ULVR.L", "GBP"),
                                   ("ZAE000015889", "NPN.JO", "ZAC"),
                                   ("US0378331005", "AAPL", "USD")):
        securities_repo.insert_security(db, {"isin": isin, "symbol": symbol, "name": symbol,
                                         "currency": currency, "source": "yfinance"}, at)
    SqlitePriceHistory(db).write_history({
        "GB00B10RZP78": ((PriceBar(date(2024, 6, 3), 4312.0, 4302.0, 4327.0, 4292.0, 4312.0,
                                   2_613_000.0),), ()),
        "ZAE000015889": ((PriceBar(date(2024, 6, 3), 287_500.0),), ()),
        "US0378331005": ((PriceBar(date(2024, 6, 3), 194.03),), ())}, "yfinance", at)
    repo.write_quotes(db, {
        "GB00B10RZP78": Quote("ULVR.L", 4312.0, "GBp", at, "yfinance"),
        "ZAE000015889": Quote("NPN.JO", 287_500.0, "ZAc", at, "yfinance"),
        "US0378331005": Quote("AAPL", 194.03, "USD", at, "yfinance")}, at)
    db.close()
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM schema_migrations WHERE number = 215")
    conn.commit()
    conn.close()

    for _ in range(2):  # applied on the first reopen only
        db = SqliteStore(path)
        db.open()
        bars = price_history_repo.read_history(db, "GB00B10RZP78")
        assert [(b.close, b.open, b.high, b.low, b.adj_close, b.volume) for b in bars] == [
            (43.12, 43.02, 43.27, 42.92, 43.12, 2_613_000.0)]
        assert price_history_repo.read_history(db, "ZAE000015889")[0].close == 2875.0
        assert price_history_repo.read_history(db, "US0378331005")[0].close == 194.03
        quotes = repo.read_quotes(db)
        assert {i: (q.price, q.currency) for i, q in quotes.items()} == {
            "GB00B10RZP78": (43.12, "GBP"), "ZAE000015889": (2875.0, "ZAR"),
            "US0378331005": (194.03, "USD")}
        currencies = {s["isin"]: s["currency"] for s in securities_repo.list_securities(db)}
        assert currencies == {"GB00B10RZP78": "GBP", "ZAE000015889": "ZAR",
                              "US0378331005": "USD"}
        db.close()


def test_dividend_yields_stored_before_the_fraction_rule_are_dropped(io: IoLoop,
                                                                       tmp_path: Path) -> None:
    """A stored 0.4 may be a percent (yfinance 1.x) or a fraction: migration 0216 drops
    it and makes the security due for a data sync; other figures stay."""
    path = tmp_path / "yields.db"
    db = SqliteStore(path)
    db.open()
    at = datetime(2024, 6, 3, 17, 0, tzinfo=UTC)
    for isin, symbol in (("US0378331005", "AAPL"), ("DE0007164600", "SAP.DE")):
        securities_repo.insert_security(db, {"isin": isin, "symbol": symbol, "name": symbol,
                                         "currency": "USD"}, at)
    securities_repo.set_last_synced(db, ["US0378331005", "DE0007164600"], at)
    repo.write_security_data(db, "US0378331005", "fundamentals", {"values": {
        "dividendYield": 0.4, "trailingPE": 30.17}}, at)
    repo.write_security_data(db, "DE0007164600", "fundamentals", {"values": {
        "trailingPE": 40.2}}, at)
    db.close()
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM schema_migrations WHERE number = 216")
    conn.commit()
    conn.close()
    db = SqliteStore(path)
    db.open()
    apple = repo.read_security_data(db, "US0378331005")["fundamentals"]["data"]
    assert apple == {"values": {"trailingPE": 30.17}}
    due = {s["isin"] for s in securities_repo.securities_due(db, at)}
    assert due == {"US0378331005"}
    db.close()
