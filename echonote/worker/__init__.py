"""Worker-only code: loaded by ``celery worker --include=echonote.worker.tasks``, never by beat or Flower.

Importing any worker module runs this first, so this is the one place that keeps pyannote.audio's
usage telemetry off (``PYANNOTE_METRICS_ENABLED=false``) before anything loads pyannote: workers,
``--local`` runs, the lab's models and the benchmarks stay offline. Set it to ``true`` yourself to
send pyannote's telemetry.
"""
import os

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
