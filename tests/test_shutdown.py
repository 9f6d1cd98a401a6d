"""Graceful shutdown: SIGTERM lets the post in flight finish and hands everything else back.

A real ``newsbot run`` process posts to the local Telegram server, which is made to hold the
first message's answer so that the signal lands while a send is in flight.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.crash_soak import STORY, Rig, wait_for


def _in_flight(rig: Rig) -> tuple[str, int]:
    """Three articles; the first post reaches Telegram, whose answer is held back."""
    rig.telegram.hang_next(1)
    rig.publish(3)
    rig.start_worker()
    assert wait_for(lambda: len(rig.telegram.messages) == 1, 20), rig.log_tail()
    match = STORY.search(rig.telegram.messages[0].text or "")
    assert match
    return ("tg-0", int(match.group(1)))


def _no_claims_left(rig: Rig) -> dict[tuple[str, int], str]:
    states = rig.states()
    assert not {k: s for k, s in states.items() if s in ("claimed", "sending")}, states
    return states


def test_sigterm_waits_for_the_send_in_flight_and_records_it_then_hands_back_the_rest(
        tmp_path: Path) -> None:
    rig = Rig(tmp_path, f"sqlite:///{tmp_path / 'newsbot.db'}", chats=("1001",), x=False)
    try:
        flying = _in_flight(rig)
        (worker,) = rig.workers
        worker.send_signal(signal.SIGTERM)
        time.sleep(0.7)
        assert worker.poll() is None  # still waiting for Telegram's answer
        rig.telegram._release.set()  # Telegram answers now
        assert worker.wait(15) == 0, rig.log_tail()
        states = _no_claims_left(rig)
        assert states[flying] == "sent"  # the answer was recorded, not lost
        assert sorted(states.values()) == ["pending", "pending", "sent"]
        assert len(rig.telegram.messages) == 1  # nothing new started after the signal
    finally:
        rig.close()


def test_a_send_still_hanging_after_the_grace_period_is_marked_unknown_not_left_claimed(
        tmp_path: Path) -> None:
    rig = Rig(tmp_path, f"sqlite:///{tmp_path / 'newsbot.db'}", chats=("1001",), x=False,
              env={"NEWSBOT_SHUTDOWN_GRACE": "1"})
    try:
        flying = _in_flight(rig)
        (worker,) = rig.workers
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0, rig.log_tail()
        assert time.monotonic() - started < 5  # the 5 s send timeout was not waited out
        states = _no_claims_left(rig)
        assert states[flying] == "unknown"  # it reached Telegram: never resent blindly
        assert sorted(states.values()) == ["pending", "pending", "unknown"]
    finally:
        rig.close()


def test_a_second_run_is_refused_and_a_worker_killed_mid_send_is_recovered_at_next_start(
        tmp_path: Path) -> None:
    rig = Rig(tmp_path, f"sqlite:///{tmp_path / 'newsbot.db'}", chats=("1001",), x=False)
    try:
        flying = _in_flight(rig)
        first = rig.workers[0]
        second = subprocess.run(
            [sys.executable, "-m", "bot", "--config", str(rig.config_path), "run"],
            env=rig.env, capture_output=True, timeout=30)
        assert second.returncode == 2
        assert b"is already in use by newsbot run (pid %d" % first.pid in second.stderr
        assert first.poll() is None  # the first one is untouched
        rig.kill(first)
        assert rig.states()[flying] == "sending"
        rig.start_worker()  # the run lock proves the old one dead: recovered at once
        assert wait_for(rig.settled, 20), rig.log_tail()
        assert rig.stop_all() == [0]
        states = _no_claims_left(rig)
        assert states.pop(flying) == "unknown"
        assert list(states.values()) == ["sent", "sent"]
        assert rig.figures().duplicates == []
    finally:
        rig.close()

