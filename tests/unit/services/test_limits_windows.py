"""services/limits.py: the failure counter's window slides; credential creation is a sliding window that can
give a slot back, both bounded in memory."""

from __future__ import annotations

from keyturn.services.limits import WINDOW, FailureCounter, SlidingWindow


def test_old_failures_leave_the_window_one_by_one():
    c = FailureCounter(limit=2)
    c.fail("k", 0.0)
    c.fail("k", 30.0)
    assert c.blocked("k", 59.0) == 2  # until the oldest failure is 60 s old
    assert c.blocked("k", 60.5) is None  # the first left; one failure remains
    c.fail("k", 61.0)
    assert c.blocked("k", 61.0) == 30


def test_only_the_newest_failures_are_kept():
    c = FailureCounter(limit=3)
    for t in range(10):
        c.fail("k", float(t))
    assert len(c._fails["k"]) == 3 and c.blocked("k", 9.0) == int(7 + WINDOW - 9) + 1


def test_the_creation_window_refuses_past_the_limit_and_says_when():
    w = SlidingWindow(limit=2, window=3600.0)
    assert w.take("u", 0.0) is None and w.take("u", 10.0) is None
    assert w.take("u", 20.0) == 3580  # nothing counted while refused
    assert w.take("u", 3600.0) is None  # the first left the window


def test_a_failed_creation_gives_its_slot_back():
    w = SlidingWindow(limit=1, window=60.0)
    assert w.take("u", 5.0) is None
    w.give_back("u", 5.0)
    assert w.take("u", 6.0) is None
    w.give_back("u", 99.0)  # not a slot it took: nothing changes
    w.give_back("nobody", 6.0)
    assert w.take("u", 7.0) == 59


def test_keys_whose_window_emptied_are_forgotten():
    w = SlidingWindow(limit=5, window=10.0)
    w.MAX_KEYS = 100
    for i in range(100):
        w.take(f"user{i}", 0.0)
    w.take("late", 20.0)  # past the bound: every expired key goes
    assert list(w._events) == ["late"]
