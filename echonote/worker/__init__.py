"""Worker-only code: loaded by ``celery worker --include=echonote.worker.tasks``, never by beat or Flower."""
