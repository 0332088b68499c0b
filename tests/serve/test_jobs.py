"""JobQueue: bounded concurrency, queueing, deadlines, errors and expiry of results."""

from __future__ import annotations

import threading
import time

import pytest

from restorekit.errors import RestorekitError
from restorekit.serve.errors import BadRequest, JobNotFound, ServerBusy
from restorekit.serve.jobs import DONE, FAILED, QUEUED, JobContext, JobQueue


def wait_state(queue: JobQueue, job_id: str, states: tuple[str, ...], limit: float = 10.0) -> str:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        state = queue.get(job_id).state
        if state in states:
            return state
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} never reached {states}")


def test_no_more_than_workers_run_at_once_and_the_rest_queue() -> None:
    queue = JobQueue(workers=2, max_queue=10, timeout=30, ttl=60)
    lock = threading.Lock()
    running = peak = 0

    def work(ctx: JobContext) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return 7

    jobs = [queue.submit(work) for _ in range(6)]
    statuses = [queue.snapshot(j.id) for j in jobs]
    assert any(s["state"] == QUEUED and s["queue_position"] >= 1 for s in statuses)
    for job in jobs:
        assert wait_state(queue, job.id, (DONE, FAILED)) == DONE
        assert queue.get(job.id).result == 7
    assert peak == 2
    queue.close()


def test_full_queue_is_refused() -> None:
    queue = JobQueue(workers=1, max_queue=1, timeout=30, ttl=60)
    release = threading.Event()
    first = queue.submit(lambda ctx: release.wait(5))
    wait_state(queue, first.id, ("running",))
    queue.submit(lambda ctx: None)  # waits
    with pytest.raises(ServerBusy, match="busy"):
        queue.submit(lambda ctx: None)
    release.set()
    queue.close()


def test_progress_and_stage_are_reported() -> None:
    queue = JobQueue(workers=1, max_queue=1, timeout=30, ttl=60)
    step = threading.Event()
    go_on = threading.Event()

    def work(ctx: JobContext) -> str:
        ctx.report("restoring", 0.4)
        step.set()
        go_on.wait(5)
        return "ok"

    job = queue.submit(work)
    assert step.wait(5)
    status = queue.snapshot(job.id)
    assert (status["state"], status["stage"], status["progress"]) == ("running", "restoring", 0.4)
    go_on.set()
    wait_state(queue, job.id, (DONE,))
    assert queue.snapshot(job.id)["progress"] == 1.0
    queue.close()


def test_a_running_job_stops_at_its_deadline() -> None:
    queue = JobQueue(workers=1, max_queue=2, timeout=0.3, ttl=60)
    cleaned = threading.Event()
    reports = []

    def slow(ctx: JobContext) -> str:
        for i in range(200):
            ctx.report("restoring", i / 200)
            reports.append(i)
            time.sleep(0.01)
        return "finished"

    job = queue.submit(slow, cleanup=cleaned.set)
    assert wait_state(queue, job.id, (FAILED, DONE)) == FAILED
    status = queue.snapshot(job.id)
    assert status["status_code"] == 504 and "timed out after 0.3 s" in status["error"]
    assert cleaned.wait(5)
    assert len(reports) < 150  # it stopped early instead of running to the end
    queue.close()


def test_a_queued_job_past_its_deadline_never_runs() -> None:
    queue = JobQueue(workers=1, max_queue=2, timeout=0.2, ttl=60)
    ran = threading.Event()
    blocker = queue.submit(lambda ctx: time.sleep(0.4))
    late = queue.submit(lambda ctx: ran.set())
    assert wait_state(queue, late.id, (FAILED, DONE)) == FAILED
    wait_state(queue, blocker.id, (FAILED, DONE))
    time.sleep(0.3)
    assert not ran.is_set()
    queue.close()


@pytest.mark.parametrize("exc,code,text", [
    (BadRequest("bad sigma"), 400, "bad sigma"),
    (RestorekitError("no model"), 400, "no model"),
    (ValueError("boom"), 500, "internal error: ValueError: boom"),
])
def test_errors_become_status_codes(exc: Exception, code: int, text: str) -> None:
    queue = JobQueue(workers=1, max_queue=1, timeout=30, ttl=60)

    def fail(ctx: JobContext) -> None:
        raise exc

    job = queue.submit(fail)
    wait_state(queue, job.id, (FAILED,))
    status = queue.snapshot(job.id)
    assert status["status_code"] == code and status["error"] == text
    queue.close()


def test_finished_jobs_expire_and_unknown_ids_are_404() -> None:
    queue = JobQueue(workers=1, max_queue=1, timeout=30, ttl=0.1)
    job = queue.submit(lambda ctx: 1)
    wait_state(queue, job.id, (DONE,))
    time.sleep(0.2)
    with pytest.raises(JobNotFound):
        queue.get(job.id)
    with pytest.raises(JobNotFound):
        queue.get("nope")
    queue.close()


def test_kept_results_are_bounded_in_bytes() -> None:
    class Blob:
        nbytes = 400

    queue = JobQueue(workers=1, max_queue=5, timeout=30, ttl=60, max_result_bytes=1000)
    jobs = []
    for _ in range(3):
        jobs.append(queue.submit(lambda ctx: Blob()))
        wait_state(queue, jobs[-1].id, (DONE,))
        time.sleep(0.01)
    queue.submit(lambda ctx: None)  # pruning happens on submit
    with pytest.raises(JobNotFound):
        queue.get(jobs[0].id)  # the oldest went: 3 x 400 > 1000
    assert queue.get(jobs[1].id).state == DONE and queue.get(jobs[2].id).state == DONE
    queue.close()
