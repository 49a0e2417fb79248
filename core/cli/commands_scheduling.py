"""Schedules and notices on the command line: scheduler, schedule, subscribe,
unsubscribe, subscriptions. Each calls core once; the rules live there."""
from __future__ import annotations

import logging
import signal
import sys
import threading

import click

from .. import notices  # noqa: F401  (every CLI process that refreshes writes notices)
from ..config import format_duration, parse_duration
from ..errors import BadInput
from .main import emit
from .render import table


@click.command()
@click.option("--tick", type=click.FloatRange(min=0.1, max=30), default=None, hidden=True,
              help="(tests) seconds between looks at the segments table and between sends.")
@click.option("--lease", "lease_for", type=click.FloatRange(min=1), default=None, hidden=True,
              help="(tests) seconds a refresh lease lives without renewal.")
@click.option("--send/--no-send", default=None,
              help="Drain the notices outbox too (default: when SLACK_BOT_TOKEN is set).")
@click.pass_obj
def scheduler(app, tick, lease_for, send):
    """Refresh dynamic segments on their schedules, in the foreground, until Ctrl-C.

    Each dynamic segment refreshes on its own interval (see `segmenta
    schedule`), else the config's [scheduler] refresh_every. Segments created,
    rescheduled or deleted meanwhile are followed without a restart. Several
    schedulers may run on one database: each due refresh still happens once.

    \b
    Example:
      SLACK_BOT_TOKEN=xoxb-… segmenta scheduler
    """
    from .. import leases
    from ..scheduler import SEND_EVERY, SYNC_EVERY, start_scheduler
    from ..secrets import RedactSecrets
    from ..store.db import redact

    cfg = app.open()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every run at INFO

    stopping = threading.Event()
    # SIGTERM (systemd, docker stop, tests) stops as cleanly as Ctrl-C
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    running = start_scheduler(cfg, sync_every=tick or SYNC_EVERY, lease_for=lease_for or leases.LEASE_FOR,
                              send=send, send_every=tick or SEND_EVERY)
    click.echo(
        f"Scheduler {running.holder} on {redact(cfg.database_url)}: {len(running.jobs)} segments scheduled, "
        f"default every {format_duration(cfg.refresh_every)}, notices {'sent' if running.send_every else 'not sent'}. "
        "Ctrl-C stops.", err=True)
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    click.echo("Stopping: letting a refresh under way finish…", err=True)
    running.stop(wait=True)
    click.echo("Scheduler stopped.", err=True)


@click.command()
@click.argument("segment")
@click.argument("every", metavar="EVERY|off|default")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def schedule(app, segment, every, as_json):
    """Set how often a dynamic segment refreshes: an interval, off, or the config's default.

    \b
    Example:
      segmenta schedule "Kyiv women" 30m
      segmenta schedule "Kyiv women" off
    """
    from .. import segments
    from ..scheduler import set_schedule

    cfg = app.open()
    word = every.strip().lower()
    if word not in ("off", "default"):
        try:
            word = parse_duration(word)
        except ValueError as e:
            raise BadInput(f"{e}; or off, or default") from None
    data = set_schedule(segments.resolve(segment), word, app.actor, cfg)
    emit(data, as_json, lambda d: f'"{d["segment"]}" now refreshes {d["schedule"]}.'
         if d["schedule"] != "off" else f'"{d["segment"]}" no longer refreshes on a schedule.')


@click.command()
@click.argument("segment")
@click.argument("channel")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def subscribe(app, segment, channel, as_json):
    """Tell a Slack channel after each refresh that changes a segment: size, joined, left.

    \b
    Example:
      segmenta subscribe "Kyiv women" "#marketing"
    """
    from .. import segments

    app.open()
    data = notices.subscribe(segments.resolve(segment), channel, app.actor)
    emit(data, as_json, lambda d: f'{d["channel"]} will be told of "{d["segment"]}"; '
                                  f'its first notice counts from these {d["members"]:,} members.')


@click.command()
@click.argument("segment")
@click.argument("channel")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def unsubscribe(app, segment, channel, as_json):
    """Stop telling a Slack channel of a segment's refreshes.

    \b
    Example:
      segmenta unsubscribe "Kyiv women" "#marketing"
    """
    from .. import segments

    app.open()
    data = notices.unsubscribe(segments.resolve(segment), channel, app.actor)
    emit(data, as_json, lambda d: f'{d["channel"]} is no longer told of "{d["segment"]}".')


@click.command()
@click.argument("segment")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def subscriptions(app, segment, as_json):
    """List the Slack channels told of a segment's refreshes, and whether they work.

    \b
    Example:
      segmenta subscriptions "Kyiv women"
    """
    from .. import segments

    app.open()
    rows = notices.subscriptions(segments.resolve(segment))
    emit(rows, as_json, lambda rows: table(rows, ["channel", "status", "last_notice_at", "since"],
                                           {"last_notice_at": "last notice"}) if rows else "No channel is told.")


def register(cli: click.Group) -> None:
    for cmd in (scheduler, schedule, subscribe, unsubscribe, subscriptions):
        cli.add_command(cmd)
