"""``echonote quota show | set``: users' daily audio quotas."""
from __future__ import annotations

import math

import click

from echonote.cli.app import EXIT_USAGE, fail, friendly_errors, main


@main.group()
def quota():
    """Show or set users' daily audio quotas (seconds of audio per day, reset at 00:00 UTC)."""


@quota.command("show")
@click.argument("user", required=False)
@friendly_errors
def quota_show(user):
    """Quota, usage and remaining seconds for USER (default: everyone)."""
    from echonote import db

    users = [u for u in db.list_users() if user is None or u.name == user]
    if user and not users:
        fail(f"no user {user!r} yet; `echonote quota set {user} SECONDS` creates one", EXIT_USAGE)
    click.echo(f"{'user':<20}{'quota s':>10}{'used s':>10}{'left s':>10}  last reset")
    for u in users:
        reset = u.quota_reset_at.isoformat(timespec="seconds") if u.quota_reset_at else "-"
        amounts = f"{u.daily_quota_seconds:>10.0f}{u.used_seconds_today:>10.0f}{u.remaining_seconds:>10.0f}"
        click.echo(f"{u.name:<20}{amounts}  {reset}")


@quota.command("set")
@click.argument("user")
@click.argument("seconds", type=float)
@friendly_errors
def quota_set(user, seconds):
    """Set USER's daily quota to SECONDS of audio (creates the user)."""
    from echonote import db

    if not math.isfinite(seconds):
        fail(
            f"SECONDS must be a finite number of seconds, got {seconds}; for a practically unlimited quota "
            f"give a large number such as 1e9",
            EXIT_USAGE,
        )
    if seconds < 0:
        fail("SECONDS must be >= 0 (0 blocks the user)", EXIT_USAGE)
    u = db.set_quota(user, seconds)
    click.echo(f"{u.name}: daily quota {u.daily_quota_seconds:.0f} s")
