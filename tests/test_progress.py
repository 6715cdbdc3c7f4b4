"""The flow's progress reporter: the model thread hands over the latest state and moves on; a
thread of its own posts it (tests/test_server_e2e.py posts to a real Prefect server)."""

from __future__ import annotations

import threading
from uuid import uuid4

from mmindex.embed import Counts, Progress
from tasks.artifacts import ProgressReporter


def test_calls_never_wait_for_a_slow_api_and_the_last_state_is_posted():
    release = threading.Event()
    posted: list[int] = []
    caller = threading.current_thread()
    posted_from_caller = []

    def slow_post(_id, p):
        posted_from_caller.append(threading.current_thread() is caller)
        release.wait(2)  # the API hangs until the model thread has finished its calls
        posted.append(p.done)

    reporter = ProgressReporter(str(uuid4()), every_s=0.01, post=slow_post)
    for done in range(1, 101):
        # would hang here if a call posted itself
        reporter(Progress(done, 100, Counts(embedded=done)))
    calls_finished_before_the_api_answered = not release.is_set()
    release.set()
    reporter.close()
    assert calls_finished_before_the_api_answered and not any(posted_from_caller)
    assert posted and posted[-1] == 100 and len(posted) < 100  # latest state only


def test_a_failing_api_never_fails_the_run(caplog):
    def broken(_id, _p):
        raise ConnectionError("API unreachable")

    reporter = ProgressReporter(str(uuid4()), every_s=0.01, post=broken)
    reporter(Progress(1, 2, Counts(embedded=1)))
    reporter.close()
    assert "progress update failed: API unreachable" in caplog.text


def test_no_artifact_or_no_total_means_no_thread():
    reporter = ProgressReporter(None, post=lambda *_: None)
    reporter(Progress(1, 2, Counts(embedded=1)))
    reporter.close()
    assert reporter._thread is None
    unknown_total = ProgressReporter(str(uuid4()), post=lambda *_: None)
    unknown_total(Progress(1, None, Counts(embedded=1)))
    assert unknown_total._thread is None
