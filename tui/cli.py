"""`segmenta tui`: the terminal face, registered through the entry-point group
`segmenta.commands` (core never imports it)."""
from __future__ import annotations

import click

DEMO_PATH = "segmenta-demo.db"


@click.command("tui")
@click.option("--demo", is_flag=True,
              help="Open a demo database (created and filled with sample contacts and segments the first time).")
@click.option("--demo-path", default=DEMO_PATH, show_default=True, metavar="PATH",
              help="Where the demo database lives.")
@click.pass_obj
def command(app, demo, demo_path):
    """Browse, search, edit and operate on segments in the terminal.

    \b
    Example:
      segmenta tui --demo
      segmenta --db sqlite:///segmenta.db tui
    """
    from core import config as config_mod
    from core.audit import Actor
    from core.store import close_database, open_database
    from core.store.db import many_connections, redact

    from .app import SegmentaApp

    actor = Actor(app.actor.who, "tui")
    many_connections()  # the interface's workers each open a connection
    if demo:
        cfg = config_mod.use(config_mod.with_database(app.config, database_url=f"sqlite:///{demo_path}"))
        open_database(cfg.database_url)
        fill_demo(cfg, actor)
    else:
        cfg = app.open()
    # The interface's own thread never queries; its workers open their own connections.
    close_database()
    SegmentaApp(cfg, actor, where=redact(cfg.database_url)).run()


def fill_demo(cfg, actor) -> None:
    """Fill the demo database with core.demo's data, only when it has no contacts."""
    from core import demo

    if demo.has_contacts():
        return
    click.echo("Creating the demo database (contacts, orders and example segments)…", err=True)
    report = demo.run(if_empty=True, actor=actor, cfg=cfg)
    click.echo(f"{report.contacts:,} contacts, {report.orders:,} orders, {len(report.segments)} segments "
               f"in {report.seconds:.1f} s.", err=True)
