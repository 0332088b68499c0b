"""A bounded job queue: at most ``workers`` restores run at once, up to ``max_queue`` wait.

Each job has an id the page polls (``GET /api/jobs/{id}``) for its stage and progress. A job
that passes its deadline (queue time included) is reported as timed out at once; it never
starts if it was still waiting, and a running one stops at its next progress report (tiled
networks report per tile; a classical filter runs to its end and its result is dropped).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from restorekit.errors import RestorekitError
from restorekit.serve.errors import JobNotFound, JobTimeout, ServeError, ServerBusy

log = logging.getLogger("restorekit.serve")

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "error"


class _Expired(Exception):
    """Raised inside a worker when its job passed the deadline."""


@dataclass
class Job:
    """One request's state, as the page sees it."""

    id: str
    created: float
    deadline: float
    state: str = QUEUED
    stage: str = "waiting in the queue"
    fraction: float = 0.0
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    status_code: int = 200
    result: Any = None
    future: cf.Future[Any] | None = field(default=None, repr=False)


class JobContext:
    """Handed to the work function: report progress, and learn when to stop."""

    def __init__(self, queue: JobQueue, job: Job) -> None:
        self._queue = queue
        self.job = job

    def report(self, stage: str, fraction: float | None = None) -> None:
        """Set the stage (and 0..1 fraction); raises inside the worker once the job expired."""
        with self._queue.lock:
            if self.job.state != RUNNING:
                raise _Expired
            if time.monotonic() > self.job.deadline:
                self._queue.expire_locked(self.job)
                raise _Expired
            self.job.stage = stage
            if fraction is not None:
                self.job.fraction = min(1.0, max(self.job.fraction, float(fraction)))


class JobQueue:
    """Run work functions in a bounded thread pool and keep their results for a while."""

    def __init__(self, workers: int, max_queue: int, timeout: float, ttl: float,
                 max_finished: int = 200, max_result_bytes: int = 1 << 30) -> None:
        self.workers = workers
        self.max_queue = max_queue
        self.timeout = timeout
        self.ttl = ttl
        self.max_finished = max_finished
        self.max_result_bytes = max_result_bytes  # results kept (``result.nbytes``) at most
        self.lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._waiting: list[str] = []  # FIFO, same order as the executor's queue
        self._pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="restore")

    # -- submitting ---------------------------------------------------------------------------

    def submit(self, work: Callable[[JobContext], Any],
               cleanup: Callable[[], None] | None = None) -> Job:
        """Queue ``work(ctx)``; raises :class:`ServerBusy` when the queue is full.

        ``cleanup`` runs once the job can no longer run (finished, failed or expired).
        """
        now = time.monotonic()
        with self.lock:
            self._prune_locked(now)
            if len(self._waiting) >= self.max_queue + max(0, self.workers - self._running()):
                raise ServerBusy(f"the server is busy ({len(self._waiting)} requests waiting); "
                                 "try again in a moment")
            job = Job(id=secrets.token_urlsafe(12), created=now, deadline=now + self.timeout)
            self._jobs[job.id] = job
            self._waiting.append(job.id)
            job.future = self._pool.submit(self._run, job, work, cleanup)
        return job

    def _running(self) -> int:
        return sum(1 for j in self._jobs.values() if j.state == RUNNING)

    def _run(self, job: Job, work: Callable[[JobContext], Any],
             cleanup: Callable[[], None] | None) -> Any:
        try:
            with self.lock:
                if job.id in self._waiting:
                    self._waiting.remove(job.id)
                if job.state != QUEUED:
                    return None
                if time.monotonic() > job.deadline:
                    self.expire_locked(job)
                    return None
                job.state, job.started, job.stage = RUNNING, time.monotonic(), "starting"
            try:
                result = work(JobContext(self, job))
            except _Expired:
                return None
            except ServeError as exc:
                self._fail(job, str(exc), exc.status_code)
                return None
            except RestorekitError as exc:
                self._fail(job, str(exc), 400)
                return None
            except MemoryError:
                self._fail(job, "not enough memory for this image; try a smaller one", 507)
                return None
            except Exception as exc:  # noqa: BLE001 - a bug: report it, keep the server up
                log.exception("job %s failed", job.id)
                self._fail(job, f"internal error: {type(exc).__name__}: {exc}", 500)
                return None
            with self.lock:
                if job.state == RUNNING and time.monotonic() <= job.deadline:
                    job.state, job.stage, job.fraction, job.result = DONE, "done", 1.0, result
                    job.finished = time.monotonic()
                elif job.state == RUNNING:
                    self.expire_locked(job)
            return result
        finally:
            if cleanup is not None:
                cleanup()

    def _fail(self, job: Job, message: str, status: int) -> None:
        with self.lock:
            if job.state == RUNNING:
                job.state, job.error, job.status_code = FAILED, message, status
                job.stage, job.finished = "failed", time.monotonic()

    def expire_locked(self, job: Job) -> None:
        """Mark ``job`` as timed out (call with :attr:`lock` held)."""
        if job.state in (QUEUED, RUNNING):
            if job.id in self._waiting:  # it will be skipped: it no longer takes a place
                self._waiting.remove(job.id)
            job.state, job.stage, job.finished = FAILED, "timed out", time.monotonic()
            job.error = (f"the request timed out after {self.timeout:g} s (the server's limit);"
                         " try a smaller image or a faster model")
            job.status_code = JobTimeout.status_code

    # -- looking up ---------------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        """The job (its deadline applied); :class:`JobNotFound` if unknown or expired."""
        now = time.monotonic()
        with self.lock:
            self._prune_locked(now)
            job = self._jobs.get(job_id)
            if job is None:
                raise JobNotFound("no such job (it finished more than "
                                  f"{self.ttl:g} s ago, or never existed)")
            if job.state in (QUEUED, RUNNING) and now > job.deadline:
                self.expire_locked(job)
            return job

    def snapshot(self, job_id: str) -> dict[str, Any]:
        """A JSON-ready status of the job for the page."""
        job = self.get(job_id)
        now = time.monotonic()
        with self.lock:
            status: dict[str, Any] = {
                "id": job.id, "state": job.state, "stage": job.stage,
                "progress": round(job.fraction, 4),
                "elapsed": round((job.finished or now) - job.created, 3),
                "timeout": self.timeout,
            }
            if job.state == QUEUED:
                status["queue_position"] = (self._waiting.index(job.id) + 1
                                            if job.id in self._waiting else 0)
            if job.state == FAILED:
                status["error"] = job.error
                status["status_code"] = job.status_code
        return status

    def wait_expired(self, job: Job) -> None:
        """Called when a caller stopped waiting at the deadline: mark the job timed out."""
        with self.lock:
            self.expire_locked(job)

    def discard(self, job_id: str) -> None:
        """Forget a finished job (its caller already has the result)."""
        with self.lock:
            job = self._jobs.get(job_id)
            if job is not None and job.state not in (QUEUED, RUNNING):
                del self._jobs[job_id]

    def _prune_locked(self, now: float) -> None:
        finished = [j for j in self._jobs.values() if j.finished is not None]
        old = {j.id for j in finished if now - j.finished > self.ttl}  # type: ignore[operator]
        finished.sort(key=lambda j: j.finished)  # type: ignore[arg-type, return-value]
        excess = len(finished) - self.max_finished
        old.update(j.id for j in finished[:max(0, excess)])
        kept = sum(int(getattr(j.result, "nbytes", 0)) for j in finished if j.id not in old)
        for j in finished:  # oldest first, until the kept results fit the byte budget
            if kept <= self.max_result_bytes:
                break
            if j.id not in old:
                old.add(j.id)
                kept -= int(getattr(j.result, "nbytes", 0))
        for job_id in old:
            del self._jobs[job_id]

    def close(self) -> None:
        """Stop accepting work; waiting jobs are dropped, running ones finish in background."""
        with self.lock:
            for job_id in list(self._waiting):
                self.expire_locked(self._jobs[job_id])
        self._pool.shutdown(wait=False, cancel_futures=True)
