"""Notebook helpers: light on purpose, like every client of the stack.

``session`` pins the settings and runs the stack (and a workshop beat beside
its beat) from a kernel, ``serve`` prepares JupyterLab on a working copy of
the notebooks, ``workshop_reset`` and ``participants`` prepare a room, ``tables``
shows rows, ``footprint`` measures what an import path loads, ``panel`` is the
submission widget, ``flower_view`` reads Flower's REST API and metrics, and
``checks`` answers the exercises. Importing this package imports none of
them, and none imports torch or numpy at module level. ``eager_app`` is the
anti-pattern the first notebook measures: never use it for real work.
"""
