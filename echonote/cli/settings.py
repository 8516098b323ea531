"""``echonote settings``: every ECHONOTE_* setting in effect here."""
from __future__ import annotations

import click

from echonote import config
from echonote.cli.app import friendly_errors, main


@main.command()
@friendly_errors
def settings():
    """Every ECHONOTE_* setting with the value in effect here and its meaning.

    Values come from the environment (as every echonote process reads them); a `*` marks
    those that differ from the default, which is shown after them. Secrets are never printed.
    """
    for env, shown, changed, default, doc in _settings_in_effect():
        value = shown + ("  *" if changed else "")
        click.echo(f"{env:<36} {value:<24} {doc}" + (f" (default: {default.strip('()')})" if changed else ""))


_DERIVED = {"database_url": "effective_database_url", "broker_url": "effective_broker_url",
            "result_backend": "effective_result_backend"}


def _settings_in_effect() -> list[tuple[str, str, bool, str, str]]:
    """(env var, value in effect as printed, differs from default, default as printed, doc) per setting."""
    cfg = config.load()
    rows = []
    for setting, (env, default, doc) in zip(config.SETTINGS, config.describe(), strict=False):
        value = cfg.values[setting.key]
        shown = ",".join(value) if isinstance(value, list) else str(value)
        if value != "" and setting.secret:
            shown = "(set, hidden)"
        elif "://" in shown:
            shown = config.redact_url(shown)
        elif shown == "" and setting.key in _DERIVED:
            shown = f"(empty: {config.redact_url(getattr(cfg, _DERIVED[setting.key]))})"
        elif shown == "":
            shown = "(empty)"
        rows.append((env, shown, value != setting.default, default, doc))
    return rows
