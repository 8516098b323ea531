"""echonote: Celery done properly on speaker diarization.

The package root is light on purpose (beat, Flower and clients import it);
heavy code lives in :mod:`echonote.worker` and is loaded only by workers.
"""

__version__ = "0.1.0"
