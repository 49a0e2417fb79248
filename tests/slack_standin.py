"""A stand-in for the Slack Web API on 127.0.0.1, so tests never touch the network.

It answers like Slack for the methods Segmenta uses, records every request,
and can be told to misbehave for the next N calls. Point slack_sdk at it with
`base_url=slack.api_url` (or SLACK_API_URL for a subprocess):

    from tests.slack_standin import SlackStandin, slack_standin  # noqa: F401 (the fixture)

    def test_something(slack_standin):
        slack = slack_standin
        slack.rate_limit("chat.postMessage", times=1, retry_after=1)   # 429 + Retry-After
        slack.server_error("chat.postMessage", times=2)                # then two 500s
        slack.slack_error("chat.postMessage", "channel_not_found")     # then ok: false
        client = WebClient(token="xoxb-test", base_url=slack.api_url)
        ...
        assert [c.params["channel"] for c in slack.calls("chat.postMessage", ok=True)] == ["C0123ABC"]

Methods answered (POST /api/<method>, form or JSON body, like Slack):
  auth.test, chat.postMessage, chat.postEphemeral, chat.update, chat.delete,
  files.getUploadURLExternal (its upload_url is POST /upload/<file_id>, whose
  bytes land in `slack.uploads`), files.completeUploadExternal, views.open,
  views.publish, views.update, views.push, conversations.info, users.info.
A response_url is `slack.response_url()` (POST /response/<id>, JSON body).
Any other method answers {"ok": false, "error": "unknown_method"}; teach it
one with `slack.on("reactions.add", lambda call: {"ok": True})`.

Misbehaviour is queued per API name ("chat.postMessage", "response",
"upload", or "*" for whatever comes next) and consumed in order:
`script(api, Answer(...), ...)`, or the shorthands rate_limit, server_error,
slack_error. `channel_error("C404", "channel_not_found")` makes every message
to that channel fail until `clear()`. With `token=...`, a request with
another token answers invalid_auth.

Run it by hand with `python -m tests.slack_standin [--port 8765]`.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import pytest


@dataclass
class Answer:
    """What the stand-in says back: HTTP status, JSON (or text/bytes) body, headers."""

    status: int = 200
    body: Any = None
    headers: dict = field(default_factory=dict)


@dataclass
class Call:
    """One request as the stand-in saw it."""

    http_method: str
    path: str
    api: str  # "chat.postMessage" for /api/chat.postMessage; "response" or "upload" for those URLs
    headers: dict
    query: dict
    form: dict | None
    json: Any
    body: bytes
    at: float
    status: int = 0  # what was answered
    answer: Any = None

    @property
    def params(self) -> dict:
        """The arguments, wherever they came: query string, form, or JSON object."""
        out = dict(self.query)
        if self.form:
            out.update(self.form)
        if isinstance(self.json, dict):
            out.update(self.json)
        return out

    @property
    def token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else self.params.get("token")

    @property
    def ok(self) -> bool:
        return self.status == 200 and isinstance(self.answer, dict) and self.answer.get("ok") is True


def _json_param(value):
    """Slack accepts views and file lists as JSON strings inside a form."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class SlackStandin:
    def __init__(self, *, token: str | None = None, host: str = "127.0.0.1", port: int = 0):
        self.token = token
        self._lock = threading.Condition()
        self._calls: list[Call] = []
        self._queued: dict[str, deque] = defaultdict(deque)
        self._channel_errors: dict[str, str] = {}
        self._handlers: dict[str, Callable[[Call], Any]] = {}
        self._ids = itertools.count(1)
        self.uploads: dict[str, bytes] = {}
        self.responses: dict[str, list] = defaultdict(list)  # response_url id -> JSON bodies
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-standin", daemon=True)

    # ---- life -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        """For WebClient(base_url=…) and SLACK_API_URL: ends with a slash, like Slack's."""
        return self.url + "/api/"

    def start(self) -> "SlackStandin":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- scripting ------------------------------------------------------------------

    def script(self, api: str, *answers: Answer) -> None:
        """Answer the next calls of API with ANSWERS, in order; then as usual again."""
        with self._lock:
            self._queued[api].extend(answers)

    def rate_limit(self, api: str = "chat.postMessage", *, times: int = 1, retry_after: int = 1) -> None:
        self.script(api, *[Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})] * times)

    def server_error(self, api: str = "chat.postMessage", *, times: int = 1, status: int = 500) -> None:
        self.script(api, *[Answer(status, "<html>Slack is having trouble</html>", {"Content-Type": "text/html"})] * times)

    def slack_error(self, api: str, error: str, *, times: int = 1) -> None:
        self.script(api, *[Answer(200, {"ok": False, "error": error})] * times)

    def channel_error(self, channel: str, error: str = "channel_not_found") -> None:
        """Every message to CHANNEL fails with ERROR until clear()."""
        with self._lock:
            self._channel_errors[channel] = error

    def on(self, api: str, handler: Callable[[Call], Any]) -> None:
        """Answer API with HANDLER(call) -> dict (sent as 200 JSON) or Answer."""
        self._handlers[api] = handler

    def clear(self) -> None:
        """Forget queued answers and channel errors (the recorded calls stay)."""
        with self._lock:
            self._queued.clear()
            self._channel_errors.clear()

    def response_url(self, rid: str | None = None) -> str:
        return f"{self.url}/response/{rid or next(self._ids)}"

    # ---- reading what happened --------------------------------------------------------

    def calls(self, api: str | None = None, *, ok: bool | None = None) -> list[Call]:
        with self._lock:
            out = [c for c in self._calls if api is None or c.api == api]
        return [c for c in out if ok is None or c.ok == ok]

    def messages(self, channel: str | None = None) -> list[dict]:
        """The arguments of every chat.postMessage that succeeded."""
        return [c.params for c in self.calls("chat.postMessage", ok=True)
                if channel is None or c.params.get("channel") == channel]

    def wait_for(self, api: str, count: int = 1, *, ok: bool | None = True, timeout: float = 10) -> list[Call]:
        """Block until COUNT calls of API (successful ones by default) arrived; raises on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.calls(api, ok=ok)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.calls(api, ok=ok))} of {count} {api} calls after {timeout}s")
                self._lock.wait(left)
        return self.calls(api, ok=ok)

    # ---- answering -------------------------------------------------------------------

    def _answer(self, call: Call) -> Answer:
        with self._lock:
            for key in (call.api, "*"):
                if self._queued.get(key):
                    return self._queued[key].popleft()
            if self.token and call.api not in ("upload", "response") and call.token != self.token:
                return Answer(200, {"ok": False, "error": "invalid_auth"})
            channel = call.params.get("channel") or call.params.get("channel_id")
            if call.api.startswith("chat.") and channel in self._channel_errors:
                return Answer(200, {"ok": False, "error": self._channel_errors[channel]})
        if call.api in self._handlers:
            out = self._handlers[call.api](call)
        elif call.api in _DEFAULTS:
            out = _DEFAULTS[call.api](self, call)
        else:
            out = {"ok": False, "error": "unknown_method"}
        return out if isinstance(out, Answer) else Answer(200, out)

    def _record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)
            self._lock.notify_all()

    def _handler_class(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet: the calls are recorded instead
                pass

            def do_GET(self):
                self._serve()

            def do_POST(self):
                self._serve()

            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                form, data = None, None
                if ctype == "application/json" and body:
                    try:
                        data = json.loads(body.decode("utf-8"))
                    except ValueError:  # recorded raw; the test looks at call.body
                        data = None
                elif ctype == "application/x-www-form-urlencoded" and body:
                    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
                segments = parts.path.strip("/").split("/")
                api = segments[1] if segments[0] == "api" and len(segments) > 1 else segments[0]
                call = Call(self.command, parts.path, api, {k.lower(): v for k, v in self.headers.items()},
                            {k: v[0] for k, v in parse_qs(parts.query).items()}, form, data, body, time.time())
                answer = standin._answer(call)
                call.status, call.answer = answer.status, answer.body
                standin._record(call)
                payload = answer.body
                headers = dict(answer.headers)
                if isinstance(payload, (dict, list)):
                    raw = json.dumps(payload).encode()
                    headers.setdefault("Content-Type", "application/json; charset=utf-8")
                else:
                    raw = payload if isinstance(payload, bytes) else str(payload or "").encode()
                    headers.setdefault("Content-Type", "text/plain; charset=utf-8")
                self.send_response(answer.status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        return Handler


# ---- Slack's usual answers ---------------------------------------------------------------

def _ts(s: SlackStandin) -> str:
    return f"{int(time.time())}.{next(s._ids):06d}"


def _post_message(s, call):
    p = call.params
    ts = _ts(s)
    return {"ok": True, "channel": p.get("channel"), "ts": ts,
            "message": {"type": "message", "text": p.get("text"), "blocks": _json_param(p.get("blocks")),
                        "ts": ts, "bot_id": "B0STANDIN"}}


def _upload_url(s, call):
    fid = f"F{next(s._ids):08d}"
    return {"ok": True, "upload_url": f"{s.url}/upload/{fid}", "file_id": fid}


def _upload(s, call):
    fid = call.path.rstrip("/").rsplit("/", 1)[-1]
    s.uploads[fid] = call.body
    return Answer(200, f"OK - {len(call.body)}")


def _complete_upload(s, call):
    files = _json_param(call.params.get("files")) or []
    return {"ok": True, "files": [{"id": f.get("id"), "title": f.get("title"), "name": f.get("title")} for f in files]}


def _view(s, call):
    view = _json_param(call.params.get("view")) or {}
    return {"ok": True, "view": {**view, "id": call.params.get("view_id") or f"V{next(s._ids):08d}"}}


def _response(s, call):
    s.responses[call.path.rstrip("/").rsplit("/", 1)[-1]].append(call.json if call.json is not None else call.params)
    return {"ok": True}


_DEFAULTS: dict[str, Callable] = {
    "auth.test": lambda s, c: {"ok": True, "url": "https://standin.slack.com/", "team": "Stand-in",
                               "user": "segmenta", "team_id": "T0STANDIN", "user_id": "U0STANDIN",
                               "bot_id": "B0STANDIN", "is_enterprise_install": False},
    "chat.postMessage": _post_message,
    "chat.postEphemeral": lambda s, c: {"ok": True, "message_ts": _ts(s)},
    "chat.update": lambda s, c: {"ok": True, "channel": c.params.get("channel"), "ts": c.params.get("ts"),
                                 "text": c.params.get("text")},
    "chat.delete": lambda s, c: {"ok": True, "channel": c.params.get("channel"), "ts": c.params.get("ts")},
    "files.getUploadURLExternal": _upload_url,
    "upload": _upload,
    "files.completeUploadExternal": _complete_upload,
    "views.open": _view,
    "views.publish": _view,
    "views.update": _view,
    "views.push": _view,
    "conversations.info": lambda s, c: {"ok": True, "channel": {"id": c.params.get("channel"), "name": "standin",
                                                                "is_member": True, "is_archived": False}},
    "users.info": lambda s, c: {"ok": True, "user": {"id": c.params.get("user"), "name": "someone",
                                                     "is_admin": False, "tz": "UTC"}},
    "response": _response,
}


@pytest.fixture
def slack_standin():
    """A running stand-in, stopped after the test."""
    with SlackStandin() as s:
        yield s


if __name__ == "__main__":  # pragma: no cover - a tool for people
    import argparse

    ap = argparse.ArgumentParser(description="Serve a Slack Web API stand-in on 127.0.0.1.")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    standin = SlackStandin(port=args.port).start()
    print(f"SLACK_API_URL={standin.api_url}", flush=True)
    seen = 0
    try:
        while True:
            time.sleep(0.5)
            for c in standin.calls()[seen:]:
                print(f"{c.http_method} {c.path} -> {c.status} {json.dumps(c.params, default=str)[:200]}", flush=True)
            seen = len(standin.calls())
    except KeyboardInterrupt:
        standin.stop()
