"""The light client: submit work by task name and follow it (the CLI, the panel and the notebooks use it).

``jobs`` submits and waits, ``canvas`` builds workflows from names, ``uploads`` stages
audio where workers may read it, ``audio_info`` measures what a job is charged,
``terminal`` draws progress. Nothing here imports task code.
"""
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
    "BrokerUnavailable", "ClientError", "Progress", "QuotaExceeded", "celery_app", "check_broker", "current_user",
    "finished_value", "progress_of", "release_pending_results", "send_by_name", "submit", "talking_to_broker", "wait",
]
