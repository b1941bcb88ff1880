"""The history top-up: each security's answer from the source is compared with the last
stored one, and only the bars that differ are validated (in the context of the stored
closes before them) and handed back for storing; a split-adjusted re-read brings the
rescale the stored history needs to join it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from arduino_trader.adapters.store import securities_repo
from arduino_trader.domain.price_validation import split_rescale, validate_series
from arduino_trader.protocols.market_data import (
    CurrencyMismatch,
    EmptyHistory,
    MarketData,
    MarketDataError,
    PriceBar,
    PriceHistory,
    currency_problem,
)
from arduino_trader.protocols.price_history import HistoryWrite, PriceHistoryStore, Rescale

from .base import ActorContext
from .market_data_universe import source_symbol

SPLIT_PROBE = timedelta(days=14)  # stored days searched for a close shared with a re-read
TAIL = 30  # accepted closes a top-up is validated against (validate_series' window)
WRITE_BATCH_BARS = 10_000  # bars held before a write (a daily top-up writes once)


@dataclass(frozen=True)
class KnownHistory:
    """The source's last stored history answer of one ISIN and the newest accepted
    ``(day, close)`` pairs in the store (the validation context of the next top-up)."""

    answer: dict[date, PriceBar]
    tail: tuple[tuple[date, float], ...]


class KnownHistories:
    """:class:`KnownHistory` by ISIN, kept only while the stored history of that ISIN is
    what this actor wrote: the change log (migration 0210, written by triggers whoever
    writes) names every ISIN changed since this actor's last look, and those are
    forgotten (the next top-up validates them against the store). So a top-up with this
    memory stores what one without it would."""

    def __init__(self) -> None:
        self._by_isin: dict[str, KnownHistory] = {}
        self._seq = 0

    def get(self, isin: str) -> KnownHistory | None:
        """What is known of ``isin`` (call :meth:`refresh` first)."""
        return self._by_isin.get(isin)

    def clear(self) -> None:
        """Forget everything."""
        self._by_isin.clear()

    def forget(self, isin: str) -> None:
        """Forget ``isin`` (its next top-up validates and stores the whole answer)."""
        self._by_isin.pop(isin, None)

    def refresh(self, prices: PriceHistoryStore) -> None:
        """Forget the ISINs another writer changed since the last look."""
        self._forget(*prices.history_changes(self._seq))

    def learn(self, prices: PriceHistoryStore, known: Mapping[str, KnownHistory],
              write: HistoryWrite | None) -> None:
        """After a top-up stored ``write`` (None: nothing to store): remember ``known``,
        except the ISINs another writer changed meanwhile (read in the write's
        transaction, or now)."""
        if write is None:
            newest, oldest, changed = prices.history_changes(self._seq)
        else:
            newest, oldest, changed = (write.newest_before, write.oldest_before,
                                       write.changed_before)
        if self._forget(newest, oldest, changed):
            self._by_isin.update({i: k for i, k in known.items() if i not in changed})
        if write is not None:
            self._seq = write.newest_after

    @property
    def seq(self) -> int:
        """The change log's sequence number this memory is valid at."""
        return self._seq

    def _forget(self, newest: int, oldest: int, changed: Mapping[str, date]) -> bool:
        """Forget ``changed`` (all when the log was pruned past us or is another
        database's); False when everything was forgotten."""
        whole = newest < self._seq or (self._seq > 0 and oldest > self._seq + 1)
        if whole:
            self._by_isin.clear()
        for isin in changed:
            self._by_isin.pop(isin, None)
        self._seq = newest
        return not whole


def read_history(ctx: ActorContext, source: MarketData, log: Any, sec: Mapping[str, Any],
                 symbol: str, start: date, end: date, *, top_up: bool,
                 known: KnownHistory | None, rescales: dict[str, Rescale],
                 remember_from: date | None = None
                 ) -> tuple[KnownHistory, tuple[Any, Any] | None]:
    """Read one security's history; returns what is known once it is stored and the
    validated (accepted, quarantined) bars to store, None when nothing differs from
    the last stored answer (``known``). Validation starts at the first differing day, in
    the context of the stored closes before it (validation looks back only, so the
    verdicts equal those of validating the whole answer). A split rescale found is put
    in ``rescales`` (due with the next write). Only the answer's days from
    ``remember_from`` on are remembered: the days a top-up re-reads (a ten-year seed
    kept whole held ~11 MB of bars for nothing)."""
    prices = ctx.deps.price_history
    isin = sec["isin"]
    history = source.history(symbol, start, end)
    mismatch = currency_problem(history.currency, sec.get("currency"))
    if mismatch:  # another listing's numbers: nothing of it is stored
        raise CurrencyMismatch(f"{sec['symbol']}: {mismatch}")
    answer = {b.day: b for b in history.bars
              if remember_from is None or b.day >= remember_from}
    rescale = split_rescale_of(prices, log, isin, history) \
        if top_up and history.splits and history.bars else None
    known = known if top_up and rescale is None else None
    bars = sorted(history.bars, key=lambda b: b.day)
    if known is not None:
        # A source that hands back the same bar objects (the replay) is compared by
        # identity first: a field-by-field compare of a year per security is costly.
        first = next((b.day for b in bars
                      if (seen := known.answer.get(b.day)) is not b and seen != b), None)
        if first is None:
            return KnownHistory(answer, known.tail), None
        if known.tail and first <= known.tail[-1][0]:
            known = None  # a revision: the whole answer is validated, as with no memory
        else:  # new days only: validated in the context of the newest stored closes
            bars = [b for b in bars if b.day >= first]
    previous: tuple[tuple[date, float], ...] = ()
    if top_up and bars:
        previous = known.tail if known is not None else tuple(
            prices.closes_before(isin, bars[0].day, TAIL))
    if rescale is not None:  # judged on the split-adjusted scale the store takes
        rescales[isin] = rescale
        previous = tuple((d, c / rescale[0]) if d < rescale[1][0][0] else (d, c)
                         for d, c in previous)
    report = validate_series(bars, previous=[c for _, c in previous],
                             max_gap_days=ctx.settings().typed.market_data.max_gap_days)
    for q in report.quarantined:
        log.warning("price_quarantined", isin=isin, day=q.day.isoformat(),
                    close=q.close, reason=q.reason, detail=q.detail)
    if report.mostly_bad:
        log.warning("history_mostly_invalid", isin=isin,
                    quarantined=len(report.quarantined), repaired=len(report.repaired))
    if not report.accepted and known is None:
        raise EmptyHistory(f"no valid bars for {sec['symbol']}")
    tail = (*previous, *((b.day, b.close) for b in report.accepted))[-TAIL:]
    return KnownHistory(answer, tail), (report.accepted, report.quarantined)


def split_rescale_of(prices: PriceHistoryStore, log: Any, isin: str, history: PriceHistory
                     ) -> Rescale | None:
    """How the stored history must be rescaled to join a split-adjusted re-read."""
    first = min(b.day for b in history.bars)
    stored = prices.read_history(isin, first, first + SPLIT_PROBE)
    found = split_rescale({b.day: b.close for b in stored}, history.bars, history.splits)
    if found is not None:
        log.info("history_split_rescaled", isin=isin, factor=found[0],
                 splits=[(d.isoformat(), r) for d, r in found[1]])
    return found


@dataclass(frozen=True)
class SyncedHistories:
    """What one history sync did: the ISINs processed, the failures, the bars stored
    per ISIN (accepted ones) and the rows written."""

    processed: list[str]
    errors: list[dict[str, str]]
    stored: dict[str, int]
    rows: int


class _Batch:
    """Validated bars waiting to be written, and the answers to remember once they are."""

    def __init__(self) -> None:
        self.series: dict[str, tuple[Any, Any]] = {}
        self.known: dict[str, KnownHistory] = {}
        self.bars = 0

    def add(self, isin: str, seen: KnownHistory, changed: tuple[Any, Any] | None) -> None:
        self.known[isin] = seen
        if changed is not None:
            self.series[isin] = changed
            self.bars += len(changed[0]) + len(changed[1])


def sync_histories(ctx: ActorContext, source: MarketData, log: Any,
                   securities: list[dict[str, Any]], now: datetime, *, reread: bool,
                   known_by_isin: KnownHistories, rescales: dict[str, Rescale],
                   details: Callable[[Mapping[str, Any]], None]) -> SyncedHistories:
    """History top-up (a full re-read when ``reread``) and ``details`` of each security,
    stopping early when the daemon stops; the changed bars are written in one go — in
    batches of about ``WRITE_BATCH_BARS`` when there are more (a first sync's ten years
    of a whole universe), so they are never all in memory at once — then
    ``known_by_isin`` learns the answers stored and each security is marked synced."""
    prices = ctx.deps.price_history
    settings = ctx.settings()
    known_by_isin.refresh(prices)
    last_days = prices.last_history_days()
    batch = _Batch()
    stored: dict[str, int] = {}
    rows = 0
    processed: list[str] = []
    errors: list[dict[str, str]] = []
    end = source.reference_time(now).date()
    topup_years = settings.typed.market_data.history_topup_years
    remember_from = end - timedelta(days=365 * topup_years + topup_years // 4)

    def flush() -> None:
        nonlocal batch, rows
        write = None
        if batch.series:
            rescale = {i: rescales.pop(i) for i in batch.series if i in rescales}
            write = prices.write_history_seen(batch.series, source.name, now, rescale,
                                              known_by_isin.seq)
            rows += write.rows
            stored.update({i: len(b) for i, (b, _) in batch.series.items()})
        known_by_isin.learn(prices, batch.known, write)  # only once stored
        batch = _Batch()

    for sec in securities:
        if ctx.stopping.is_set():
            break
        isin = sec["isin"]
        last = last_days.get(isin)
        if reread or last is None or last < end - timedelta(days=1):
            years = (settings.typed.market_data.history_topup_years if last
                     else settings.typed.market_data.history_seed_years)
            start = end - timedelta(days=365 * years + years // 4)
            try:
                seen, changed = read_history(
                    ctx, source, log, sec, source_symbol(sec), start, end,
                    top_up=last is not None, known=known_by_isin.get(isin),
                    rescales=rescales, remember_from=remember_from)
            except MarketDataError as exc:
                # A failed history skips the rest for this security.
                errors.append({"isin": isin, "error": exc.code, "message": str(exc)})
                continue
            batch.add(isin, seen, changed)
            if batch.bars >= WRITE_BATCH_BARS:
                flush()
        details(sec)
        processed.append(isin)
    flush()
    rescales.clear()
    securities_repo.set_last_synced(ctx.deps.store, processed, now)
    return SyncedHistories(processed, errors, stored, rows)
