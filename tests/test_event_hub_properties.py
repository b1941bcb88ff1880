"""Invariants of the event hub (hypothesis): a resumed client gets exactly the kept events
after its ``Last-Event-ID``, in order, and is told to reset when some were forgotten; no
client's queue ever holds more than its bound, and a client that overflows is cut off."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.daemon.api.event_hub import EventHub


@settings(max_examples=200, deadline=None)
@given(published=st.integers(0, 40), replay=st.integers(1, 10), last=st.integers(0, 50))
def test_resume_gets_exactly_the_kept_events_after_last_id(published: int, replay: int,
                                                           last: int) -> None:
    loop = asyncio.new_event_loop()
    try:
        hub = EventHub(loop, replay=replay)
        for n in range(published):
            hub.publish("job_finished", {"n": n})
        sub = hub.subscribe(last)
        ids = [e.id for e in sub.backlog]
        kept = range(max(1, published - replay + 1), published + 1)
        assert ids == [i for i in kept if i > last]
        forgotten = [i for i in range(1, published + 1) if i > last and i not in kept]
        assert sub.reset == (bool(forgotten) or last > published)
    finally:
        loop.close()


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 8), reads=st.lists(st.booleans(), max_size=60))
def test_a_queue_never_exceeds_its_bound(size: int, reads: list[bool]) -> None:
    """``reads``: per step, True = the client takes one event, False = the hub publishes."""
    loop = asyncio.new_event_loop()
    try:
        hub = EventHub(loop, queue_size=size)
        sub = hub.subscribe()
        pending = 0
        for read in reads:
            if read and not sub.queue.empty() and not sub.dropped:
                sub.queue.get_nowait()
                pending -= 1
            elif not read:
                hub.publish("job_finished", {})
                pending += 1
            assert sub.queue.qsize() <= size
            if pending > size:
                assert sub.dropped and sub.queue.get_nowait() is None
                return
        assert not sub.dropped
    finally:
        loop.close()
