"""What each ``getUserCashFlows`` ``type_code`` means for the books.

Every code the broker documents is listed here: it either maps to a record kind with a
ledger rule, or is held for the owner's review (kind ``other``: stored, no ledger
effect, a health warning) with the reason. An undocumented code is held the same way:
nothing is dropped and nothing is guessed.

Transfers (``bank``, ``sepa``, ``swift``, ``card`` …) carry no direction in their code:
a positive sum is a deposit, a negative one a withdrawal. Trading commissions
(``commission_for_trades``; ``commission`` when it names a trade) name their trade in the
comment, ``(Trade 1515 2021-06-28 12:21:35)``; the fee is settled with that trade, so the
row itself moves no money. A commission naming no trade cannot be attributed and is
held for review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from arduino_trader.protocols.cash_flow_store import FlowKind

TRANSFER_CODES: frozenset[str] = frozenset({
    "bank", "sbp", "digital_assets", "card", "sepa", "sepa_instant", "swift", "blik",
    "kassa", "deposit", "refill", "transfer_in"})
WITHDRAWAL_CODES: frozenset[str] = frozenset({
    "card_payout", "sbp_withdrawal", "digital_assets_withdrawal", "crypto_withdrawal",
    "cashout", "withdrawal", "transfer_out"})
TRADE_FEE_CODES: frozenset[str] = frozenset({"commission_for_trades", "commission"})
FIXED_KINDS: dict[str, FlowKind] = {
    "dividend": "dividend", "dividends": "dividend", "dividend_compensation": "dividend",
    "fund_payment": "dividend", "coupon": "coupon",
    "maturity": "maturity", "partial_maturity": "partial_maturity",
    "tax": "tax", "tax_vat": "tax", "tax_agent": "tax", "tax_profit": "tax",
    "tax_vat_refund": "tax",
    "fee": "fee", "card_commission": "fee", "agent_fee": "fee", "percents": "fee",
    "commission_refund": "fee", "commission_rebates": "fee", "scores_rebate": "fee",
}
# Documented codes held for review, with why (the ledger rule is not known for sure).
REVIEW_REASONS: dict[str, str] = {
    "currency_conversion": "currency conversion: the daemon books its own exchanges from "
                           "their trades; a conversion by the broker needs a decision",
    **{code: "securities event with a cash amount" for code in (
        "split", "merger", "conversion", "spin_off", "stock_dividend", "rights_distribution",
        "stock_dividend_compensation", "corporate_action_compensation")},
    **{code: "cash blocked or released, or margin" for code in (
        "block", "unblock", "block_commission", "unblock_commission", "initial_margin",
        "initial_margin_afterhours", "variation_margin", "pending_card_authorisation",
        "debt_coverage")},
    **{code: "transfer or payment of unknown direction" for code in (
        "intercompany", "internal_holding", "interbank", "refund", "payments_to_customer",
        "gift_certificate", "deposit_compensation", "card_conversion_settlement",
        "card_cash", "recurrent_subscription", "blockchain", "storn_correction", "system",
        "icc_commission", "dvp", "otc_trade", "trade_cancellation", "option_premium",
        "agent_trade", "agent_reward_for_commissions", "agent_reward_for_net_deposits")},
}
_TRADE_REF = re.compile(r"\btrade\s+(\d+)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Meaning:
    """A row's kind; ``review`` says why it is held (then ``kind`` is ``other``);
    ``trade_id`` is the trade a commission belongs to."""

    kind: FlowKind
    review: str = ""
    trade_id: str = ""


def trade_reference(comment: str) -> str:
    """The trade id a commission's comment names (``Trade 1515 …``), or ``""``."""
    found = {m.group(1) for m in _TRADE_REF.finditer(comment)}
    return found.pop() if len(found) == 1 else ""


def meaning(code: str, amount: Decimal, comment: str) -> Meaning:
    """The ledger meaning of one row with a non-zero ``amount``."""
    if code in TRANSFER_CODES:
        return Meaning("deposit" if amount > 0 else "withdrawal")
    if code in WITHDRAWAL_CODES:
        return Meaning("withdrawal") if amount < 0 else _held(
            f"withdrawal type {code!r} with positive amount {amount}")
    if code in TRADE_FEE_CODES:
        trade = trade_reference(comment)
        if not trade:
            return _held(f"commission {code!r} names no trade")
        return Meaning("trading_fee", trade_id=trade)
    if code.endswith("_reverted"):
        return _held(f"reversal {code!r}: the original's effect is not undone automatically")
    kind = FIXED_KINDS.get(code)
    if kind is not None:
        return Meaning(kind)
    return _held(REVIEW_REASONS.get(code, f"unknown cash-flow type {code!r}"))


def _held(reason: str) -> Meaning:
    return Meaning("other", review=reason)
