"""DRIP (sandbox, live): core spends core's ledger cash, never the account's (which holds
satellites' money and anything not yet reconciled), and a dividend is reinvested net of
the withholding tax the broker booked against it."""

from __future__ import annotations

from decimal import Decimal

import test_cash_flow_actor_drip as drip
from test_cash_flow_actor_drip import SAP, START, Rig

from arduino_trader.actors.cash_flows import core_only_context
from arduino_trader.adapters.store import fx_tables
from arduino_trader.adapters.store import satellites_repo as sat_repo
from arduino_trader.adapters.store.cash_flow_repo import SqliteCashFlowStore
from arduino_trader.domain.cash_flows.effects import rules
from arduino_trader.domain.cash_flows.normalise import normalise
from arduino_trader.protocols.bucket_ledger import Operation
from arduino_trader.protocols.satellite_records import LedgerEntry

D = Decimal
rig = drip.rig  # the DRIP tests' fixture: sandbox, executor and cash-flow actor


def _book(rig: Rig, rows: list[dict[str, str]]) -> None:
    rates = fx_tables.load_rates(rig.store)
    for record in normalise("user_cash_flow", rows).records:
        SqliteCashFlowStore(rig.store).store_record(
            record, rules(core_only_context(rates)), START)


def _dividend(rig: Rig, amount: str, tax: str | None = None) -> None:
    rows = [{"id": "div-1", "type_code": "dividend", "sum": amount, "currency": "EUR",
             "date": "2026-03-02", "symbol": SAP[1]}]
    if tax is not None:
        rows.append({"id": "tax-1", "type_code": "tax", "sum": f"-{tax}", "currency": "EUR",
                     "date": "2026-03-02", "symbol": SAP[1]})
    _book(rig, rows)


def _price(rig: Rig) -> D:
    (row,) = rig.rows("SELECT price FROM latest_prices")
    return D(str(row["price"]))


def test_core_spends_its_own_ledger_cash_not_the_accounts(rig: Rig) -> None:
    price = _price(rig)
    _dividend(rig, str(20 * price))  # enough for twenty shares
    spent = LedgerEntry(bucket_id="core", currency="EUR", type="trade_buy",
                        amount=-(15 * price), source_kind="manual", source_id="spent",
                        created_at=START)  # core already spent most of it elsewhere
    sat_repo.apply_operation(rig.store, Operation((spent,)), START)
    rig.sandbox.sandbox.account.deposit("EUR", D("20000"), rig.clock.now())  # not core's
    outcome = rig.drip("drip-core")
    (buy,) = outcome.details["buys"]
    assert buy["quantity"] == 5, outcome  # core's cash buys five shares, not twenty


def test_a_dividend_is_reinvested_net_of_its_withholding(rig: Rig) -> None:
    price = _price(rig)
    gross = (10 * price).quantize(D("0.01"))
    tax = (gross * D("0.35")).quantize(D("0.01"))  # 6.5 shares left: six are bought
    _dividend(rig, str(gross), str(tax))
    rig.sandbox.sandbox.account.deposit("EUR", D("20000"), rig.clock.now())
    outcome = rig.drip("drip-net")
    (buy,) = outcome.details["buys"]
    assert buy["quantity"] == 6 and D(buy["cost_eur"]) <= gross - tax, outcome
