"""Test and teaching scaffolding, shipped like ``celery.contrib.testing``: fault drills (``chaos``),
synthetic conversations (``synth``) and per-role virtual environments (``role_env``).
Never imported by beat, Flower or worker code."""
