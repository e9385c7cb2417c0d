"""A stand-in for the Telegram Bot API: a real HTTP server on 127.0.0.1 for tests.

It speaks the Bot API's JSON (``POST /bot<token>/sendMessage`` and ``getMe``, with a form
or JSON body), checks the token, records every message it receives with its arrival
time, and answers each chat from a script::

    with TelegramStandin(token) as standin:
        standin.script(42, ["429:3", "500", "ok"])
        ...  # point the client at standin.base_url
        assert [m.text for m in standin.messages_to(42)] == [...]

Script steps, used once each in order, then the default ``ok``:

- ``ok``: success, with the next message_id (increasing over the whole server);
- ``429:N``: Too Many Requests with ``parameters.retry_after = N``;
- ``403``: Forbidden: bot was blocked by the user;
- ``400``: Bad Request: chat not found;
- ``500`` (or any other 3-digit code): that status with its standard phrase;
- ``slow:S``: sleep S seconds, then success;
- ``drop``: close the connection without answering.

Thread-safe: the server handles each connection on its own thread, and tests read
what it recorded from theirs.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest

BOT_ID = 7000000001
BOT_USER = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "HSL stand-in",
    "username": "hsl_standin_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}

VERBATIM = {"chat_id", "text", "caption", "parse_mode"}

DESCRIPTIONS = {
    403: "Forbidden: bot was blocked by the user",
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    404: "Not Found",
}


@dataclass(frozen=True)
class Received:
    """One sendMessage call as the stand-in saw it."""

    chat_id: int | str
    text: str | None
    parse_mode: str | None
    at: float  # time.monotonic() on arrival
    answer: str  # the script step it got
    params: dict[str, Any] = field(default_factory=dict)  # every parameter, JSON-decoded
    method: str = "sendMessage"  # or sendPhoto: `text` is then the caption
    photo: bytes | None = None  # the uploaded picture of a sendPhoto


@dataclass(frozen=True)
class Call:
    """Any request that reached the server (any method, right or wrong token)."""

    method: str
    token_ok: bool
    at: float


def _json_value(raw: str) -> Any:
    """A JSON-encoded form value decoded ("true", '{"is_disabled": true}'); else the string."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _chat_key(value: Any) -> int | str:
    with suppress(TypeError, ValueError):
        return int(value)
    return str(value)


class TelegramStandin:
    """The server. Use as a context manager (or call start() / stop())."""

    def __init__(self, token: str) -> None:
        self.token = token
        self._lock = threading.Lock()
        self._scripts: dict[int | str, deque[str]] = {}
        self._messages: list[Received] = []
        self._calls: list[Call] = []
        self._next_message_id = 1
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> TelegramStandin:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True  # a "slow" answer never holds up stop()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> TelegramStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """What HSL_TELEGRAM_API_URL would be: scheme, host and port, no path."""
        assert self._server is not None, "the stand-in is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- scripting and inspection -----------------------------------------------------

    def script(self, chat_id: int | str, steps: Iterable[str]) -> None:
        """Append answers for this chat; each is used once, in order, then ``ok``."""
        steps = list(steps)
        for step in steps:
            _parse_step(step)  # refuse a typo now, not inside the server thread
        with self._lock:
            self._scripts.setdefault(_chat_key(chat_id), deque()).extend(steps)

    @property
    def messages(self) -> list[Received]:
        """Every sendMessage that reached the server with the right token, in arrival order."""
        with self._lock:
            return list(self._messages)

    def messages_to(self, chat_id: int | str) -> list[Received]:
        key = _chat_key(chat_id)
        return [m for m in self.messages if m.chat_id == key]

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    # --- used by the handler ----------------------------------------------------------

    def _record_call(self, method: str, token_ok: bool) -> None:
        with self._lock:
            self._calls.append(Call(method, token_ok, time.monotonic()))

    def _take_step(self, chat_id: int | str, text: Any, params: dict[str, Any],
                   method: str = "sendMessage", photo: bytes | None = None) -> tuple[str, int]:
        """Record the message, pick its answer and (for a success) its message_id."""
        with self._lock:
            queue = self._scripts.get(chat_id)
            step = queue.popleft() if queue else "ok"
            self._messages.append(
                Received(
                    chat_id=chat_id,
                    text=text if isinstance(text, str) else None,
                    parse_mode=params.get("parse_mode"),
                    at=time.monotonic(),
                    answer=step,
                    params=params,
                    method=method,
                    photo=photo,
                )
            )
            kind, _ = _parse_step(step)
            message_id = 0
            if kind in ("ok", "slow"):
                message_id = self._next_message_id
                self._next_message_id += 1
            return step, message_id


def _multipart(content_type: str, data: bytes) -> dict[str, Any]:
    """The fields of a multipart/form-data body: text fields as `_read_body` keeps them, an
    uploaded file (a part with a filename) as its bytes."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + data)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            fields[name] = payload
        else:
            text = payload.decode("utf-8", "replace")
            fields[name] = text if name in VERBATIM else _json_value(text)
    return fields


def _parse_step(step: str) -> tuple[str, float]:
    """("ok"|"slow"|"drop"|"429"|"code", number) or ValueError for a typo."""
    name, _, arg = step.partition(":")
    if name in ("ok", "drop") and not arg:
        return name, 0.0
    if name == "slow":
        return "slow", float(arg)
    if name == "429":
        return "429", float(arg or 0)
    if name.isdigit() and len(name) == 3 and not arg:
        return "code", float(name)
    raise ValueError(f"unknown stand-in script step {step!r}")


def _handler_for(standin: TelegramStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # Headers and body leave in separate packets; without TCP_NODELAY, Nagle and the
        # client's delayed ACK would add ~40 ms to every answer.
        disable_nagle_algorithm = True
        protocol_version = "HTTP/1.1"  # keep-alive, like the real API

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # quiet: pytest output stays readable

        def do_GET(self) -> None:  # noqa: N802
            self._dispatch(body={})

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch(body=self._read_body())

        def _read_body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if kind == "multipart/form-data":  # an upload (sendPhoto): files stay bytes
                return _multipart(self.headers.get("Content-Type", ""), data)
            raw = data.decode("utf-8", "replace")
            if kind == "application/json":
                data = json.loads(raw or "{}")
                return dict(data) if isinstance(data, dict) else {}
            pairs = parse_qsl(raw, keep_blank_values=True)
            # PTB sends strings as they are and everything else JSON-encoded; the text,
            # chat_id and parse_mode are kept verbatim (a text may well start with "[").
            return {k: (v if k in VERBATIM else _json_value(v)) for k, v in pairs}

        def _dispatch(self, body: dict[str, Any]) -> None:
            path = self.path.split("?", 1)[0]
            parts = path.strip("/").split("/")
            if len(parts) != 2 or not parts[0].startswith("bot"):
                self._answer_error(404)
                return
            token, method = parts[0][3:], parts[1]
            token_ok = token == standin.token
            standin._record_call(method, token_ok)
            if not token_ok:
                self._answer_error(401)
                return
            if method == "getMe":
                self._answer_ok(BOT_USER)
            elif method in ("sendMessage", "sendPhoto"):
                self._send_message(body, method)
            else:
                self._answer_error(404)

        def _send_message(self, params: dict[str, Any], method: str = "sendMessage") -> None:
            chat_id = _chat_key(params.get("chat_id"))
            text = params.get("caption" if method == "sendPhoto" else "text")
            photo = params.pop("photo", None) if method == "sendPhoto" else None
            step, message_id = standin._take_step(chat_id, text, params, method,
                                                  photo if isinstance(photo, bytes) else None)
            kind, number = _parse_step(step)
            if kind == "drop":
                self.close_connection = True
                with suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if kind == "429":
                retry_after = int(number) if number.is_integer() else number
                self._answer(
                    429,
                    {
                        "ok": False,
                        "error_code": 429,
                        "description": f"Too Many Requests: retry after {retry_after}",
                        "parameters": {"retry_after": retry_after},
                    },
                )
                return
            if kind == "code":
                self._answer_error(int(number))
                return
            if kind == "slow":
                time.sleep(number)
            self._answer_ok(
                {
                    "message_id": message_id,
                    "from": BOT_USER,
                    "chat": {"id": chat_id, "type": "private"},
                    "date": int(time.time()),
                    "text": text,
                }
            )

        def _answer_ok(self, result: Any) -> None:
            self._answer(200, {"ok": True, "result": result})

        def _answer_error(self, code: int) -> None:
            description = DESCRIPTIONS.get(code) or HTTPStatus(code).phrase
            self._answer(code, {"ok": False, "error_code": code, "description": description})

        def _answer(self, code: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (a "slow" answer past its timeout)
                self.close_connection = True

    return Handler


@pytest.fixture(name="standin")
def standin_fixture() -> Iterator[TelegramStandin]:
    """`standin`: a running stand-in with a long, distinctive token (``standin.token``).

    A test module gets the fixture by importing it (pytest finds it under its name
    `standin`): ``from tests.telegram_standin import standin_fixture  # noqa: F401``.
    """
    with TelegramStandin(STANDIN_TOKEN) as server:
        yield server


# Shaped like a real token (digits, colon, 35 characters) and easy to spot in any text.
STANDIN_TOKEN = "8123456789:AAHsl-SECRET-standin-token-xyzzy-9876543"
