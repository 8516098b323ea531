"""The Celery app: no task code here or in its config.

Start the roles (two terminals, or ``echonote up``)::

    celery -A echonote.celery_app worker --include=echonote.worker.tasks -Q diarization,default -E
    celery -A echonote.celery_app beat
"""
from celery import Celery

app = Celery("echonote")
app.config_from_object("echonote.celeryconfig")
