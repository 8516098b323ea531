"""The module workers load with ``--include``: it registers every echonote task.

Beat, Flower and clients never import this; they know the tasks by name
(:mod:`echonote.names`).
"""
from echonote.worker import (  # noqa: F401  (registers tasks and signal handlers)
    cleanup,
    diarization,
    housekeeping,
    janitor,
    jobs,
    log_policy,
    speaker_tasks,
    transcription,
)

log_policy.install()
