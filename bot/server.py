"""HTTP mode: Slack's requests at /slack/events, each on its own thread.

Bolt's development server answers one request at a time; this is the
standard library's WSGI server with ThreadingMixIn around Bolt's WSGI
adapter, so that 30 people typing at once are all acknowledged within
Slack's 3 seconds. No new dependency: the work itself runs on the Bolt
app's listener pool, so the server threads only wait for the acks.
"""
from __future__ import annotations

import logging
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt.adapter.wsgi import SlackRequestHandler

log = logging.getLogger("segmenta.bot.http")

PATH = "/slack/events"


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # a burst of commands must not wait for the backlog


class _Handler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the standard library's name
        log.info("%s %s", self.address_string(), format % args)


def wsgi_app(bolt_app):
    slack = SlackRequestHandler(bolt_app, path=PATH)

    def application(environ, start_response):
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n"]
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        if environ.get("REQUEST_METHOD") == "POST" and not (timestamp.isascii() and timestamp.isdigit()):
            # Bolt's signature check would raise on it (int("yesterday")) and answer 200
            start_response("401 Unauthorized", [("Content-Type", "application/json")])
            return [b'{"error":"invalid request"}']
        return slack(environ, start_response)

    return application


def serve(bolt_app, host: str = "127.0.0.1", port: int = 3000) -> ThreadingWSGIServer:
    """A started-on-demand server (call .serve_forever(); port 0 picks a free one)."""
    return make_server(host, port, wsgi_app(bolt_app), server_class=ThreadingWSGIServer, handler_class=_Handler)
