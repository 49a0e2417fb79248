"""`segmenta`: the command line face.

Every command reports in words by default and as JSON with `--json`; bad
input ends with a one-line message on stderr and exit status 2, never a
traceback. The faces' commands (`bot`, `tui`) come from the entry-point group
`segmenta.commands`, so that core imports neither face.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from importlib.metadata import entry_points

import click

from .. import config as config_mod
from ..audit import Actor
from ..errors import SegmentaError
from ..text import visible

EXIT_BAD_INPUT = 2


class App:
    """What every command needs: the config, the actor, the database."""

    def __init__(self, config_path: str | None, db_url: str | None):
        self._config_path = config_path
        self._db_url = db_url
        self._config: config_mod.Config | None = None
        self.actor = Actor.local("cli")
        self.opened = False

    @property
    def config(self) -> config_mod.Config:
        if self._config is None:
            cfg = config_mod.load(self._config_path)
            if self._db_url:
                cfg = config_mod.with_database(cfg, database_url=self._db_url)
            self._config = cfg
        return self._config

    def open(self):
        """Open (and migrate) the database; returns the config."""
        from ..store import open_database

        if not self.opened:
            config_mod.use(self.config)
            open_database(self.config.database_url)
            self.opened = True
        return self.config


def emit(data, as_json: bool, human=None) -> None:
    """Print DATA as JSON, or through HUMAN (a function returning text)."""
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    elif human is not None:
        text = human(data)
        if text:
            click.echo(visible(text, keep="\n"))


def fail(message: str) -> None:
    raise SegmentaError(message)


class SegmentaGroup(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SegmentaError as e:
            click.echo(visible(f"Error: {e}", keep="\n"), err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("Interrupted; nothing half-done was kept.", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            # `segmenta members S | head`: the reader left; that is fine.
            try:
                sys.stdout = open(os.devnull, "w")
            except OSError:
                pass
            ctx.exit(0)
        except Exception as e:  # a bug of ours: say so plainly
            if os.environ.get("SEGMENTA_DEBUG"):
                traceback.print_exc()
            click.echo(
                f"Internal error: {type(e).__name__}: {e}\n"
                "Nothing was changed by the failed step. Run again with SEGMENTA_DEBUG=1 for details.",
                err=True,
            )
            ctx.exit(1)

    def list_commands(self, ctx):
        self._load_faces()
        return super().list_commands(ctx)

    def get_command(self, ctx, name):
        self._load_faces()
        return super().get_command(ctx, name)

    _faces_loaded = False

    def _load_faces(self):
        if self._faces_loaded:
            return
        self._faces_loaded = True
        for ep in entry_points(group="segmenta.commands"):
            if ep.name in self.commands:
                continue
            try:
                self.add_command(ep.load(), ep.name)
            except Exception as e:  # a face that cannot load must not break the rest
                msg = f"the {ep.name!r} face could not be loaded: {type(e).__name__}: {e}"

                @click.command(ep.name, help=msg)
                def broken(msg=msg):
                    raise SegmentaError(msg)

                self.add_command(broken, ep.name)


@click.group(cls=SegmentaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", metavar="PATH", help="Config file (else SEGMENTA_CONFIG, else ./config.toml).")
@click.option("--db", "db_url", metavar="URL", help="Database URL, e.g. sqlite:///segmenta.db or postgresql://user@host/db.")
@click.version_option(package_name="segmenta")
@click.pass_context
def cli(ctx, config_path, db_url):
    """Segmenta: contact segments, from the terminal.

    \b
    Example:
      segmenta demo
      segmenta create dynamic "Kyiv women" --where "gender = female and region = Kyiv"
      segmenta show "Kyiv women"
    """
    ctx.obj = App(config_path, db_url)


def _register_core_commands() -> None:
    from . import commands_contacts, commands_segments

    commands_contacts.register(cli)
    commands_segments.register(cli)


_register_core_commands()


def main() -> None:
    cli(prog_name="segmenta")
