"""The ``echonote`` command group and what every command module shares: exit codes, one-line errors.

Command modules (``echonote/cli/*.py``) import this module and register on :data:`main`;
``echonote/cli/__init__.py`` imports each of them once. Nothing here imports a command module.

Exit codes: 0 success; 1 a runtime problem (broker unreachable, a role would
not start, a task failed); 2 bad usage or input; 3 the stack answers but is
incomplete (no worker, a worker without the task code, or no beat); 4 timed out waiting.
"""
from __future__ import annotations

import functools
import sys

import click

from echonote import config

EXIT_RUNTIME, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_TIMEOUT = 1, 2, 3, 4


def friendly_errors(func):
    """Turn the errors a user can fix into one clear line and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from echonote.client import ClientError
        from echonote.db import DatabaseFileReplaced
        from echonote.ops.stack import StackError

        try:
            return func(*args, **kwargs)
        except config.ConfigError as exc:
            fail(f"configuration: {exc}", EXIT_USAGE)
        except (ClientError, StackError, DatabaseFileReplaced) as exc:
            fail(str(exc), EXIT_RUNTIME)
        except TimeoutError as exc:
            fail(str(exc), EXIT_TIMEOUT)
        finally:
            from echonote.client import release_pending_results

            release_pending_results()

    return wrapper


def fail(message: str, code: int):
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="echonote")
def main():
    """echonote: Celery done properly on speaker diarization.

    Beat and Flower know tasks only by name; workers load the code with
    --include. Settings come from ECHONOTE_* environment variables
    (`echonote settings` lists them).
    """
