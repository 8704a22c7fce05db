"""The failure counter: a sliding window per key, with bounded memory."""

from __future__ import annotations

from keyturn.services.limits import FailureCounter


def test_failure_counter_window_and_memory_bound():
    c = FailureCounter(limit=3)
    for t in range(3):
        c.fail("k", float(t))
    assert c.blocked("k", 3.0) is not None and c.blocked("other", 3.0) is None
    assert c.blocked("k", 61.0) is None
    for i in range(60000):
        c.fail(f"spray{i}", 100.0)
    assert len(c._fails) <= 50000
