"""Country/industry groups and their targets (migration 0500).

Setting a group replaces its members in one transaction (an empty group is one
``__EMPTY__`` member, hidden on read); deleting a group deletes its target in the same
transaction. Targets are exact TEXT fractions.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from arduino_trader.domain.allocation import EMPTY_MEMBER
from arduino_trader.protocols.money import decimal_to_str
from arduino_trader.protocols.store import Database

Kind = Literal["country", "industry"]
_TABLE = {"country": ("country_groups", "country_name"),
          "industry": ("industry_groups", "industry_name")}


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def groups(db: Database, kind: Kind) -> dict[str, list[str]]:
    """``{group: [members]}`` (empty groups listed with no members)."""
    table, col = _TABLE[kind]
    rows = db.fetch_all(f"SELECT group_name, {col} AS member FROM {table} "  # noqa: S608
                        "ORDER BY group_name, member")
    out: dict[str, list[str]] = {}
    for r in rows:
        members = out.setdefault(r["group_name"], [])
        if r["member"] != EMPTY_MEMBER:
            members.append(r["member"])
    return out


def set_group(db: Database, kind: Kind, name: str, members: list[str],
              now: datetime) -> None:
    """Replace the members of ``name`` (created if new) in one transaction."""
    table, col = _TABLE[kind]
    with db.transaction() as tx:
        tx.execute(f"DELETE FROM {table} WHERE group_name = ?", (name,))  # noqa: S608
        tx.executemany(
            f"INSERT INTO {table} (group_name, {col}, created_at) VALUES (?, ?, ?)",  # noqa: S608
            [(name, m, _ts(now)) for m in (members or [EMPTY_MEMBER])])


def delete_group(db: Database, kind: Kind, name: str) -> bool:
    """Delete a group and its target together; False if it did not exist."""
    table, _ = _TABLE[kind]
    with db.transaction() as tx:
        cur = tx.execute(f"DELETE FROM {table} WHERE group_name = ?",  # noqa: S608
                         (name,))
        tx.execute("DELETE FROM allocation_targets WHERE type = ? AND name = ?",
                   (f"{kind}_group", name))
        return bool(cur.rowcount)


def targets(db: Database, kind: Kind) -> dict[str, Decimal]:
    """``{group: target fraction}``."""
    rows = db.fetch_all("SELECT name, target_pct FROM allocation_targets "
                        "WHERE type = ? ORDER BY name", (f"{kind}_group",))
    return {r["name"]: Decimal(r["target_pct"]) for r in rows}


def set_targets(db: Database, kind: Kind, weights: dict[str, Decimal],
                now: datetime) -> None:
    """Replace every target of ``kind`` with ``weights`` (non-zero ones) atomically."""
    with db.transaction() as tx:
        tx.execute("DELETE FROM allocation_targets WHERE type = ?", (f"{kind}_group",))
        tx.executemany(
            "INSERT INTO allocation_targets (type, name, target_pct, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [(f"{kind}_group", g, decimal_to_str(w), _ts(now), _ts(now))
             for g, w in sorted(weights.items())])


def available(db: Database, kind: Kind) -> list[str]:
    """Distinct countries, or distinct (split) industries, of the securities."""
    col = "country" if kind == "country" else "industry"
    rows = db.fetch_all(f"SELECT DISTINCT {col} AS v FROM securities "  # noqa: S608
                        f"WHERE {col} IS NOT NULL AND {col} <> ''")
    names: set[str] = set()
    for r in rows:
        parts = [r["v"]] if kind == "country" else str(r["v"]).split(",")
        names.update(p.strip() for p in parts if p.strip())
    return sorted(names)
