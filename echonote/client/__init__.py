"""The light client: submit work by task name and follow it (the CLI, the panel and the notebooks use it).

``submit_diarization`` / ``submit_transcript`` take an audio file and do the rest (stage it,
measure it, charge what was measured, send by name); ``submit`` is the primitive under them
(quota, job row, send). ``jobs`` submits and waits, ``audio_jobs`` turns files into jobs,
``canvas`` builds workflows from names, ``uploads`` stages audio where workers may read it,
``audio_info`` measures what a job is charged, ``terminal`` draws progress. Nothing here
imports task code.
"""
from echonote.client.audio_jobs import (
    BadAudio,
    StagedAudio,
    TranscriptJob,
    stage_audio,
    submit_diarization,
    submit_transcript,
)
from echonote.client.jobs import (
    BrokerUnavailable,
    ClientError,
    Progress,
    QuotaExceeded,
    celery_app,
    check_broker,
    current_user,
    finished_value,
    progress_of,
    release_pending_results,
    send_by_name,
    submit,
    talking_to_broker,
    wait,
)

__all__ = [
    "BadAudio", "BrokerUnavailable", "ClientError", "Progress", "QuotaExceeded", "StagedAudio", "TranscriptJob",
    "celery_app", "check_broker", "current_user", "finished_value", "progress_of", "release_pending_results",
    "send_by_name", "stage_audio", "submit", "submit_diarization", "submit_transcript", "talking_to_broker", "wait",
]
