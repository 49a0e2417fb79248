"""`segmenta bot`: the Slack face (Socket Mode, HTTP, or a console without Slack)."""
from __future__ import annotations

import getpass
import logging
import signal
import threading

import click

from core.errors import BadInput


@click.command("bot")
@click.option("--http", "http_mode", is_flag=True,
              help="Serve Slack's requests over HTTP at /slack/events (else Socket Mode, with SLACK_APP_TOKEN).")
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP mode: the address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=3000, show_default=True,
              help="HTTP mode: the port.")
@click.option("--console", is_flag=True, help="A prompt that takes /segment lines and prints the replies, no Slack.")
@click.option("--as", "as_user", default=None, metavar="USER_ID",
              help="Console: the Slack user id to act as (the config's [slack] admins may delete contacts).")
@click.option("--no-scheduler", is_flag=True,
              help="Do not refresh segments on their schedules in this process (notices are still sent).")
@click.pass_obj
def command(app, http_mode, host, port, console, as_user, no_scheduler):
    """Run the Slack bot: `/segment` for every operation.

    Secrets come from the environment only: SLACK_BOT_TOKEN, and
    SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode).
    SLACK_API_URL (or [slack] api_url) points it at another Web API.
    The bot also refreshes segments on their schedules and sends the
    notices of subscribed channels.

    \b
    Example:
      SLACK_BOT_TOKEN=xoxb-… SLACK_APP_TOKEN=xapp-… segmenta bot
      SLACK_BOT_TOKEN=xoxb-… SLACK_SIGNING_SECRET=… segmenta bot --http --port 3000
      segmenta --db sqlite:///demo.db bot --console
    """
    from core.store.db import many_connections

    from . import logs

    many_connections()  # a worker thread per request, each with its connection
    cfg = app.open()
    if console:
        from .console import run_console

        logs.setup(logging.WARNING)
        run_console(cfg, as_user or getpass.getuser())
        return
    logs.setup(logging.INFO)
    socket_mode = not http_mode
    if socket_mode and not cfg.secret("SLACK_APP_TOKEN"):
        raise BadInput("SLACK_APP_TOKEN is not set: set it for Socket Mode, or run `segmenta bot --http --port N`")
    from .app import build_app

    bolt_app = build_app(cfg, socket_mode=socket_mode)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    background = _start_background(cfg, no_scheduler)
    try:
        if http_mode:
            _serve_http(bolt_app, host, port, cfg, stopping)
        else:
            _serve_socket_mode(bolt_app, cfg, stopping)
    finally:
        for part in background:
            part.stop()
        click.echo("Segmenta bot stopped.", err=True)


def _start_background(cfg, no_scheduler: bool) -> list:
    if no_scheduler:
        from core.sender import start_sender

        return [start_sender(cfg)]
    from core.scheduler import start_scheduler

    return [start_scheduler(cfg, send=True)]


def _serve_http(bolt_app, host, port, cfg, stopping) -> None:
    from .server import PATH, serve

    server = serve(bolt_app, host, port)
    thread = threading.Thread(target=server.serve_forever, name="segmenta-http", daemon=True)
    thread.start()
    click.echo(f"Segmenta bot: {cfg.slack_command} at http://{host}:{server.server_port}{PATH} "
               "(signatures verified). Ctrl-C stops.", err=True)
    _wait(stopping)
    server.shutdown()
    server.server_close()


def _serve_socket_mode(bolt_app, cfg, stopping) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from .replies import web_client

    from slack_sdk.errors import SlackApiError

    from .logs import redact
    from .replies import error_code

    handler = SocketModeHandler(bolt_app, cfg.secret("SLACK_APP_TOKEN"), web_client=web_client(None, cfg.api_url))
    try:
        handler.connect()
    except SlackApiError as e:
        raise BadInput(f"Slack refused Socket Mode ({error_code(e)}): check SLACK_APP_TOKEN (an app-level token "
                       "with connections:write) and that Socket Mode is on in the app's settings") from None
    except OSError as e:
        raise BadInput(f"cannot reach Slack for Socket Mode: {redact(str(e))[:300]}") from None
    click.echo(f"Segmenta bot: {cfg.slack_command} over Socket Mode. Ctrl-C stops.", err=True)
    _wait(stopping)
    handler.close()


def _wait(stopping: threading.Event) -> None:
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
