"""`bgpd.speaker.deadlines.Deadlines`: the earliest session deadline without a pass over every
peer, checked against a pass over every peer after random touches and timer moves."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.speaker.deadlines import Deadlines


def test_earliest_and_due_follow_touches_and_later_moves() -> None:
    timers: dict[str, float | None] = {"a": 10.0, "b": 5.0, "c": None}
    index = Deadlines()
    for name in timers:
        index.touch(name)
    assert index.earliest(timers.get) == 5.0
    timers["b"] = 20.0  # moved later without a touch (bytes sent): found at the top
    assert index.earliest(timers.get) == 10.0
    timers["c"] = 1.0  # a new, earlier timer: the session was handed an input
    index.touch("c")
    assert index.earliest(timers.get) == 1.0
    assert index.due(0.5, timers.get) == []
    assert index.due(10.0, timers.get) == ["c", "a"]
    # Fired: their entries are gone until the speaker touches them again.
    assert index.earliest(timers.get) == 20.0
    del timers["b"]  # the peer was removed
    assert index.earliest(timers.get) is None


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32), peers=st.integers(1, 30), steps=st.integers(1, 200))
def test_the_same_answers_as_a_pass_over_every_peer(seed: int, peers: int, steps: int) -> None:
    rng = random.Random(seed)
    names = [f"p{i}" for i in range(peers)]
    timers: dict[str, float | None] = dict.fromkeys(names)
    index = Deadlines()
    now = 0.0
    for _ in range(steps):
        name = rng.choice(names)
        action = rng.random()
        current = timers[name]
        if action < 0.5:  # an input: any new deadline, the index is told
            timers[name] = None if rng.random() < 0.1 else now + rng.uniform(0, 100)
            index.touch(name)
        elif action < 0.7 and current is not None:  # moved later, untold
            timers[name] = current + rng.uniform(0, 50)
        elif action < 0.85:
            pending = [t for t in timers.values() if t is not None]
            assert index.earliest(timers.get) == min(pending, default=None)
        else:  # time passes and the due timers fire (and re-arm, as a session's do)
            now += rng.uniform(0, 60)
            expected = sorted(n for n, t in timers.items() if t is not None and t <= now)
            fired = index.due(now, timers.get)
            assert sorted(fired) == expected
            for fired_name in fired:
                timers[fired_name] = None if rng.random() < 0.3 else now + rng.uniform(1, 90)
                index.touch(fired_name)
