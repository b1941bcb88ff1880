"""Every ``getUserCashFlows`` type code the broker documents has a ledger meaning, or is
held for the owner's review with its reason: none is dropped, none falls to "unknown".

``type_codes.json`` lists the codes of the broker's published table, plus
``commission_for_trades``, which only its cash-flow sample shows (the table has no row
for it: a doubt to confirm on a live account).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.domain.cash_flows.normalise import normalise
from arduino_trader.domain.cash_flows.type_codes import meaning, trade_reference

CODES = json.loads((Path(__file__).parent / "fixtures" / "tradernet" / "type_codes.json")
                   .read_text(encoding="utf-8"))
ALL = CODES["documented"] + CODES["in_samples_only"]


def _row(code: str, amount: str, comment: str = "") -> dict[str, str]:
    return {"id": "a1", "type_code": code, "sum": amount, "currency": "EUR",
            "date": "2026-03-05", "comment": comment}


@pytest.mark.parametrize("code", ALL)
@pytest.mark.parametrize("amount", ["12.50", "-12.50"])
def test_every_documented_code_is_stored_with_a_meaning_or_a_reason(code: str,
                                                                    amount: str) -> None:
    out = normalise("user_cash_flow", [_row(code, amount, "(Trade 1515 2021-06-28 12:21:35)")])
    assert not out.rejections, out.rejections  # never dropped
    (record,) = out.records
    said = meaning(code, Decimal(amount), record.params["comment"])
    assert record.kind == said.kind
    assert "unknown cash-flow type" not in said.review  # every documented code is known
    if record.kind == "other":
        assert record.description == said.review and said.review


@pytest.mark.parametrize(("code", "amount", "kind"), [
    ("sepa", "500", "deposit"), ("sepa_instant", "500", "deposit"), ("swift", "500", "deposit"),
    ("blik", "500", "deposit"), ("bank", "500", "deposit"), ("bank", "-500", "withdrawal"),
    ("cashout", "-500", "withdrawal"), ("percents", "1.20", "fee"), ("tax", "-3", "tax"),
    ("dividend", "4", "dividend"), ("currency_conversion", "-100", "other"),
    ("dividend_reverted", "-4", "other"), ("commission", "-1", "other"),
])
def test_documented_codes_map_as_their_meaning_says(code: str, amount: str,
                                                    kind: str) -> None:
    (record,) = normalise("user_cash_flow", [_row(code, amount)]).records
    assert record.kind == kind


def test_a_trade_commission_names_its_trade() -> None:
    (fee,) = normalise("user_cash_flow", [
        _row("commission_for_trades", "-3.00", "(Trade 1515 2021-06-28 12:21:35)")]).records
    assert (fee.kind, fee.related_id, fee.amount) == ("trading_fee", "1515", Decimal("-3.00"))
    assert trade_reference("Trade 1 and Trade 2") == ""  # ambiguous: no guess


@given(st.text(max_size=30), st.decimals(min_value=-10**6, max_value=10**6, places=2))
def test_any_code_is_stored_or_held_never_rejected_for_its_type(code: str,
                                                                amount: Decimal) -> None:
    out = normalise("user_cash_flow", [_row(code, str(amount))])
    if amount == 0:
        assert out.rejections and out.rejections[0].ignorable
        return
    assert not out.rejections
    (record,) = out.records
    assert record.kind != "other" or record.description
