"""Write stamps and the reopen gate of embedded stores (``ingest.stores.embedded_freshness``)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ingest.stores.embedded_freshness import ReopenGate, WriteStamps


def test_a_stamp_by_another_process_is_seen_once_a_reader_has_looked(tmp_path: Path) -> None:
    reader, writer = WriteStamps(tmp_path), WriteStamps(tmp_path)
    assert not reader.changed_elsewhere("kb")  # the first look records
    writer.stamp("kb")
    assert reader.changed_elsewhere("kb")
    reader.reset()  # the client was opened again
    assert not reader.changed_elsewhere("kb")
    assert not reader.changed_elsewhere("kb")
    writer.stamp("other")
    assert not reader.changed_elsewhere("kb")


def test_own_stamps_are_not_changes_elsewhere(tmp_path: Path) -> None:
    stamps = WriteStamps(tmp_path)
    assert not stamps.changed_elsewhere("kb")
    for _ in range(5):
        stamps.stamp("kb")
        assert not stamps.changed_elsewhere("kb")


def test_a_change_elsewhere_stays_pending_through_own_writes(tmp_path: Path) -> None:
    """A process that writes before it caught up with another's write must still catch up."""
    mine, theirs = WriteStamps(tmp_path), WriteStamps(tmp_path)
    assert not mine.changed_elsewhere("kb")
    theirs.stamp("kb")
    mine.stamp("kb")
    assert mine.changed_elsewhere("kb")


def test_a_reopen_waits_for_calls_and_holds_new_ones_back() -> None:
    gate = ReopenGate()
    order: list[str] = []
    in_call = threading.Event()
    release = threading.Event()

    def long_call() -> None:
        with gate.call():
            in_call.set()
            release.wait(5)
            order.append("call ended")

    def reopen() -> None:
        with gate.reopening():
            order.append("reopened")
            time.sleep(0.1)

    def late_call() -> None:
        with gate.call():
            order.append("late call")

    first = threading.Thread(target=long_call)
    first.start()
    in_call.wait(5)
    reopener = threading.Thread(target=reopen)
    reopener.start()
    time.sleep(0.1)
    late = threading.Thread(target=late_call)
    late.start()
    time.sleep(0.1)
    assert order == []
    release.set()
    for thread in (first, reopener, late):
        thread.join(5)
    assert order == ["call ended", "reopened", "late call"]


def test_a_call_inside_a_call_does_not_wait_for_a_pending_reopen() -> None:
    gate = ReopenGate()
    done = threading.Event()
    inner_entered = threading.Event()
    outer_in = threading.Event()
    go_inner = threading.Event()

    def outer() -> None:
        with gate.call():
            outer_in.set()
            go_inner.wait(5)
            assert gate.in_call()
            with gate.call():
                inner_entered.set()
        done.set()

    thread = threading.Thread(target=outer)
    thread.start()
    outer_in.wait(5)
    reopener = threading.Thread(target=lambda: gate.reopening().__enter__())
    reopener.start()
    time.sleep(0.1)
    go_inner.set()
    assert inner_entered.wait(5)
    assert done.wait(5)
    reopener.join(5)
    assert not gate.in_call()
