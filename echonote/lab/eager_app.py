"""ANTI-PATTERN — for teaching only. Do not start beat, Flower or a worker from this app.

This is how many Celery projects start: the app lists its task modules in
``include`` and the task module imports the model stack at the top, so that
"the model is ready". Every process that loads the app pays for it — beat and
Flower too, because both call ``app.loader.import_default_modules()``, which
imports everything in ``include``. Notebook 01 measures the cost against
``echonote.celery_app`` (which lists no task modules).
"""
# The model stack at module level: what a naive tasks.py does. Loaded by anyone who imports the app.
import librosa  # noqa: F401,E402
import torch  # noqa: F401,E402
from celery import Celery
from pyannote.audio import Model  # noqa: F401,E402

app = Celery("eager-antipattern", include=["echonote.worker.tasks"])  # task code in the app's own config
app.config_from_object("echonote.celeryconfig")
