"""Trading fees as the broker reports them: commission rows of the cash-flow ledger.

``getTradesHistory`` rows carry no commission; each charge is a ``getUserCashFlows`` row
(``commission_for_trades``) whose comment names the trade, ``(Trade 1515 …)``. A trade's
fee is the sum of its rows, as a positive number in the trade's currency; a row in
another currency is left out (the trade then has no fee) and logged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

import structlog

from arduino_trader.domain.cash_flows.type_codes import TRADE_FEE_CODES, trade_reference
from arduino_trader.protocols.broker import CashFlow

log = structlog.get_logger(component="tradernet")


def fees_by_trade(flows: Iterable[CashFlow],
                  currency_of: Mapping[int, str]) -> dict[int, Decimal]:
    """Trade id → fee (positive) for the trades in ``currency_of`` that have one."""
    fees: dict[int, Decimal] = {}
    for flow in flows:
        if flow.type_code.strip().lower() not in TRADE_FEE_CODES:
            continue
        ref = trade_reference(flow.comment)
        if not ref or int(ref) not in currency_of:
            continue
        trade_id = int(ref)
        if flow.currency != currency_of[trade_id]:
            log.warning("trade_fee_other_currency", trade_id=trade_id, flow_id=flow.flow_id,
                        fee_currency=flow.currency, trade_currency=currency_of[trade_id])
            continue
        fees[trade_id] = fees.get(trade_id, Decimal(0)) - flow.amount
    return fees
