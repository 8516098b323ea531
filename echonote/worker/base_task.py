"""The base class of echonote's tasks: time limits end with a message a person can act on."""
from __future__ import annotations

from celery import Task
from celery.exceptions import Ignore, Reject, Retry, SoftTimeLimitExceeded

from echonote.errors import TimeLimitReached, TransientError

#: task options for jobs: passing failures retry with bounded, jittered backoff; nothing else retries
JOB_TASK_OPTIONS = dict(
    bind=True,
    autoretry_for=(TransientError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=3,
)


class EchonoteTask(Task):
    """Records the job's outcome before Celery publishes the result (so a client that sees the
    result also sees the final job row), turns Celery's bare SoftTimeLimitExceeded into
    :class:`TimeLimitReached` with the fix, and returns freed memory to the system after each job."""

    def __call__(self, *args, **kwargs):
        from echonote.worker import allocator, job_tracking

        try:
            result = super().__call__(*args, **kwargs)
        except SoftTimeLimitExceeded:
            limit = self.request.timelimit[1] if self.request.timelimit and self.request.timelimit[1] else self.app.conf.task_soft_time_limit
            error = TimeLimitReached(
                f"{self.name} stopped after its soft time limit of {limit} s. Split the audio into shorter files, "
                "or raise ECHONOTE_SOFT_TIME_LIMIT (with ECHONOTE_HARD_TIME_LIMIT and ECHONOTE_VISIBILITY_TIMEOUT above it)."
            )
            job_tracking.record_failure(self, error)
            raise error from None
        except (Retry, Ignore, Reject):
            raise  # not an outcome: the job goes on (or is handled by Celery)
        except Exception as exc:
            job_tracking.record_failure(self, exc)
            raise
        finally:
            allocator.release()  # the job's freed buffers go back to the system, not to the next job's peak
        job_tracking.record_success(self, result)
        return result
