"""The base class of echonote's tasks: every run ends with a verdict a person can act on, and a
finished job never runs again."""
from __future__ import annotations

import logging

from celery import Task, states
from celery.exceptions import Ignore, Reject, Retry, SoftTimeLimitExceeded

from echonote.errors import BadInput, TimeLimitReached, TransientError

logger = logging.getLogger(__name__)

#: task options for jobs: passing failures retry with bounded, jittered backoff; nothing else retries
JOB_TASK_OPTIONS = dict(
    bind=True,
    autoretry_for=(TransientError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=3,
)


class OutOfMemory(RuntimeError):
    """The job ran out of memory in its pool process; the message says what to change."""


class JobAlreadyFinished(RuntimeError):
    """A redelivered message whose job row is already final: it is not run again."""


class EchonoteTask(Task):
    """Records the job's outcome before Celery publishes the result (so a client that sees the
    result also sees the final job row), never runs a job whose row is final or whose worker died
    too often, turns Celery's bare SoftTimeLimitExceeded into :class:`TimeLimitReached` and a
    MemoryError into :class:`OutOfMemory` (a plain failure, where Celery would end the whole
    worker), and returns freed memory to the system after each job.

    A :class:`~echonote.errors.BadInput` is an expected outcome (``throws``): logged as one WARNING
    line with the job id, no traceback (see :mod:`echonote.worker.log_policy`)."""

    throws = (BadInput,)

    def __call__(self, *args, **kwargs):
        from echonote.worker import allocator, jobs

        verdict = jobs.start(self)
        if isinstance(verdict, jobs.FinalRow):
            self._settle_finished(verdict)
            raise Ignore()  # acknowledged, not run, the stored outcome left as it is
        if verdict is not None:
            raise verdict  # the worker died too often under this job: a failure, recorded by start()
        error = None
        try:
            result = super().__call__(*args, **kwargs)
        except SoftTimeLimitExceeded:
            limits = self.request.timelimit
            limit = limits[1] if limits and limits[1] else self.app.conf.task_soft_time_limit
            error = TimeLimitReached(
                f"{self.name} stopped after its soft time limit of {limit} s. Split the audio into shorter files, "
                "or raise ECHONOTE_SOFT_TIME_LIMIT (with ECHONOTE_HARD_TIME_LIMIT and ECHONOTE_VISIBILITY_TIMEOUT "
                "above it)."
            )
        except MemoryError as exc:
            # Celery's main process treats a MemoryError from a pool process as unrecoverable and
            # exits, and the message then comes back. Leave this block before doing anything else:
            # the traceback holds the job's frames and with them the memory that ran out.
            detail = f"MemoryError: {exc}" if str(exc) else "MemoryError"
            error = OutOfMemory(
                f"{self.name} ran out of memory ({detail}); the job was stopped and the worker goes on. "
                "Split the audio into shorter files, or give each worker process more memory "
                "(fewer ECHONOTE_WORKER_CONCURRENCY processes per machine)."
            )
        except (Retry, Ignore, Reject):
            raise  # not an outcome: the job goes on (or is handled by Celery)
        except BadInput as exc:
            jobs.record_failure(self, exc)
            logger.warning("job %s: %s refused its input: %s", jobs.job_id_of(self) or self.request.id,
                           self.name, exc)
            raise
        except Exception as exc:
            jobs.record_failure(self, exc)
            raise
        finally:
            allocator.release()  # the job's freed buffers go back to the system, not to the next job's peak
        if error is not None:
            jobs.record_failure(self, error)
            raise error from None
        jobs.record_success(self, result)
        return result

    def _settle_finished(self, final) -> None:
        """Log the skip; where the result backend lost the outcome, store the row's verdict there."""
        logger.warning("job %s is already %s: message %s was redelivered and is not run again",
                       final.job_id, final.status, self.request.id)
        if self.AsyncResult(self.request.id).state in states.READY_STATES:
            return
        detail = final.error or (f"results in {final.result_path}" if final.result_path else "no detail recorded")
        error = JobAlreadyFinished(f"job {final.job_id} was already {final.status} ({detail}) when this message "
                                   "was delivered again; it was not run a second time.")
        self.backend.mark_as_failure(self.request.id, error, request=self.request)
