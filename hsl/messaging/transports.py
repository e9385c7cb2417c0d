"""Sending one Telegram message: the Transport interface, the real one and the dry run.

The rest of the app sees only ``Transport.send(chat_id, text) -> Outcome``: no HTTP, no
token, no library types. ``TelegramTransport`` sits on python-telegram-bot (PTB 22, async)
and runs every send on one private event loop, in a thread of its own, so the
synchronous worker simply calls ``send`` and gets an ``Outcome`` back; it never raises
for anything Telegram or the network does.

The bot token is never shown: it is scrubbed from every ``Outcome.error``, from the
transport's repr, and from the log records of httpx, httpcore and PTB (httpx logs each
request URL, which holds the token, at INFO; PTB logs it at DEBUG).
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import os
import re
import threading
import warnings
import weakref
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable
from urllib.parse import quote, urlsplit

from hsl.errors import ValidationError

if TYPE_CHECKING:  # PTB is imported only when a real transport is made (it takes ~0.4 s)
    from telegram.request import HTTPXRequest

DEFAULT_API_URL = "https://api.telegram.org"
DEFAULT_TIMEOUT = 10.0
POOL_SIZE = 8  # connections to the Bot API; one worker sends about one message at a time

MISSING_TOKEN = (
    "Sending needs a Telegram bot token: set HSL_TELEGRAM_BOT_TOKEN, or bot_token under "
    "[telegram] in .streamlit/secrets.toml."
)

OutcomeKind = Literal["sent", "retry", "blocked", "failed"]


@dataclass(frozen=True)
class Outcome:
    """What happened to one message.

    ``sent``: Telegram accepted it (``message_id`` is Telegram's). ``retry``: try again
    later, after ``retry_after`` seconds when Telegram said so (HTTP 429), otherwise with
    backoff (network error, timeout, 5xx). ``blocked``: the person blocked the bot or
    deleted the account (403). ``failed``: Telegram refused it (400 chat not found, bad
    request, wrong token...); do not retry. ``error`` is one short sentence, never the token.
    """

    kind: OutcomeKind
    message_id: int | None = None
    retry_after: float | None = None
    error: str | None = None


@runtime_checkable
class Transport(Protocol):
    """Sends one Telegram-HTML message (parse_mode=HTML, link previews off) to one chat;
    with `photo` (PNG bytes), the picture with the text as its caption (digests)."""

    name: str
    dry_run: bool

    def send(self, chat_id: int, text: str, photo: bytes | None = None) -> Outcome: ...

    def close(self) -> None: ...


# --- keeping the token out of every text ---------------------------------------------

_TOKEN_SHAPE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}")  # what BotFather hands out
_REDACTED = "<bot token>"
_tokens: set[str] = set()
_tokens_lock = threading.Lock()


def _remember_token(token: str) -> None:
    with _tokens_lock:
        _tokens.update({token, quote(token, safe=""), quote(token)})


def _scrub(text: str) -> str:
    """The text with every known token (and anything shaped like one) replaced."""
    with _tokens_lock:
        known = sorted(_tokens, key=len, reverse=True)
    for token in known:
        text = text.replace(token, _REDACTED)
    return _TOKEN_SHAPE.sub(_REDACTED, text)


class _RedactTokens(logging.Filter):
    """Rewrites a record whose message, traceback or stack mentions the token."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the handler's business, not ours
            return True
        clean = _scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            if _scrub(text) != text:
                record.exc_text, record.exc_info = _scrub(text), None
        elif record.exc_text:
            record.exc_text = _scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = _scrub(record.stack_info)
        return True


_REDACTOR = _RedactTokens()
_LOGGED_BY = ("httpx", "httpcore", "telegram", "asyncio")


def _guard_logging() -> None:
    """Put the redactor on every logger of httpx, httpcore, PTB and asyncio.

    A logger's filter sees only the records made on that very logger, not its
    children's, so it goes on each one that exists (they are all made at import).
    """
    names = [
        name
        for name in list(logging.root.manager.loggerDict)
        if isinstance(name, str) and name.split(".")[0] in _LOGGED_BY
    ]
    for name in {*names, *_LOGGED_BY}:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)
    httpx_logger = logging.getLogger("httpx")
    if httpx_logger.level == logging.NOTSET:
        httpx_logger.setLevel(logging.WARNING)  # one INFO line per request is just noise


def _sentence(text: str, limit: int = 200) -> str:
    """One short, clean sentence: token scrubbed, whitespace collapsed, a final period."""
    text = " ".join(_scrub(str(text)).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def _detail(text: object) -> str:
    """Library text for inside parentheses: scrubbed, one line, no final period."""
    return " ".join(_scrub(str(text)).split()).rstrip(".") or "no details"


def _seconds(value: float) -> str:
    return f"{value:g}"


# --- the real transport -----------------------------------------------------------------

# The HTTP status of the answer being handled, per send (each send is its own task).
_last_status: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "hsl_telegram_status", default=None
)
_request_class: type[HTTPXRequest] | None = None


def _status_recording_request() -> type[HTTPXRequest]:
    """PTB's HTTPXRequest, noting each answer's status code.

    PTB turns every status it has no special class for (5xx, 413, ...) into a plain
    NetworkError, the same class as a dropped connection; the status tells them apart.
    """
    global _request_class
    if _request_class is None:
        from telegram.request import HTTPXRequest

        class StatusRecordingRequest(HTTPXRequest):
            async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
                _last_status.set(None)
                code, payload = await super().do_request(*args, **kwargs)
                _last_status.set(code)
                return code, payload

        _request_class = StatusRecordingRequest
    return _request_class


def _api_root(base_url: str | None) -> str:
    """``https://api.telegram.org`` style: scheme and host (maybe a path), no ``/bot``."""
    root = (base_url or "").strip().rstrip("/") or DEFAULT_API_URL
    if root.endswith("/bot"):  # someone pasted PTB's own form of it
        root = root[: -len("/bot")]
    parts = urlsplit(root)
    if parts.scheme not in ("http", "https") or not parts.netloc or "{" in root:
        raise ValidationError(
            f"The Telegram API address (HSL_TELEGRAM_API_URL) must look like {DEFAULT_API_URL}."
        )
    return root


def _stop(loop: asyncio.AbstractEventLoop, thread: threading.Thread, request: Any) -> None:
    """Close the HTTP client on its loop, then stop the loop and its thread."""
    if loop.is_closed():
        return
    if loop.is_running():
        future = asyncio.run_coroutine_threadsafe(request.shutdown(), loop)
        try:
            future.result(timeout=5)
        except Exception:  # closing is best effort; the process may be exiting
            future.cancel()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
    if not loop.is_running():
        loop.close()


class TelegramTransport:
    """Sends through the Telegram Bot API with python-telegram-bot.

    ``base_url`` is the API root without ``/bot`` (HSL_TELEGRAM_API_URL, default
    Telegram's); requests go to ``{base_url}/bot<token>/sendMessage``. ``timeout`` (seconds)
    bounds connecting, writing, reading and waiting for a free connection.
    """

    name = "Telegram"
    dry_run = False

    def __init__(
        self, token: str, base_url: str = DEFAULT_API_URL, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        token = (token or "").strip()
        if not token:
            raise ValidationError(MISSING_TOKEN)
        if any(ch.isspace() or ch in "/?#{}%" for ch in token):
            raise ValidationError(
                "The Telegram bot token has characters a token never has; copy it again "
                "from @BotFather."
            )
        self._base_url = _api_root(base_url)
        self._timeout = float(timeout)
        if not self._timeout > 0:
            raise ValidationError("The Telegram timeout must be a positive number of seconds.")

        _remember_token(token)  # before PTB can log anything with it
        # PTB 22.2+ warns on every 429 (even inside RetryAfter.__init__) that retry_after
        # will become a timedelta; this is its documented opt-in to that, handled below.
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        from telegram import Bot  # here, not at the top: PTB is slow to import

        _guard_logging()
        request = _status_recording_request()(
            connection_pool_size=POOL_SIZE,
            connect_timeout=self._timeout,
            read_timeout=self._timeout,
            write_timeout=self._timeout,
            pool_timeout=self._timeout,
        )
        # PTB appends the token to base_url itself: "<root>/bot" + token + "/sendMessage".
        self._bot = Bot(
            token,
            base_url=f"{self._base_url}/bot",
            base_file_url=f"{self._base_url}/file/bot",
            request=request,
            get_updates_request=request,  # never used; saves a second HTTP client
        )
        self._loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=self._loop.run_forever, name="hsl-telegram-transport", daemon=True
        )
        thread.start()
        # Also runs when the transport is garbage-collected or the interpreter exits.
        self._finalizer = weakref.finalize(self, _stop, self._loop, thread, request)
        # A send can make one request; this is only a backstop behind httpx's timeouts.
        self._backstop = 4 * self._timeout + 5

    def __repr__(self) -> str:
        return f"TelegramTransport(base_url={self._base_url!r}, token=<hidden>)"

    def __enter__(self) -> TelegramTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, chat_id: int, text: str, photo: bytes | None = None) -> Outcome:
        """Send ``text`` (Telegram HTML) to ``chat_id``, as the caption of ``photo`` when
        one is given (sendPhoto); never raises for Telegram's sake."""
        if not self._finalizer.alive:
            raise RuntimeError("This Telegram transport is closed.")
        future = asyncio.run_coroutine_threadsafe(self._send(chat_id, text, photo), self._loop)
        try:
            return future.result(timeout=self._backstop)
        except TimeoutError:
            future.cancel()
            return Outcome(
                "retry",
                error=f"Telegram did not answer within {_seconds(self._backstop)} seconds.",
            )

    def close(self) -> None:
        """Close connections and stop the private loop; calling it again does nothing."""
        self._finalizer()

    async def _send(self, chat_id: int, text: str, photo: bytes | None = None) -> Outcome:
        from telegram import LinkPreviewOptions
        from telegram.constants import ParseMode

        try:
            if photo is not None:
                message = await self._bot.send_photo(
                    chat_id=chat_id, photo=photo, caption=text, parse_mode=ParseMode.HTML)
            else:
                message = await self._bot.send_message(
                    chat_id=chat_id,
                    text=text,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
        except Exception as exc:  # every failure becomes an Outcome, never an exception
            outcome = self._outcome_of(exc, _last_status.get())
            return replace(outcome, error=_sentence(outcome.error or "Sending failed"))
        return Outcome("sent", message_id=int(message.message_id))

    def _outcome_of(self, exc: Exception, status: int | None) -> Outcome:
        from telegram import error as tg

        # Order matters: in PTB, BadRequest and TimedOut are NetworkError subclasses.
        if isinstance(exc, tg.RetryAfter):
            wait = _retry_after_seconds(exc)
            return Outcome(
                "retry",
                retry_after=wait,
                error=f"Telegram asked to wait {_seconds(wait)} seconds (too many requests).",
            )
        if isinstance(exc, tg.Forbidden):
            return Outcome("blocked", error=f"Telegram refused to deliver ({_detail(exc)}).")
        if isinstance(exc, tg.InvalidToken):
            return Outcome(
                "failed",
                error="Telegram rejected the bot token; check HSL_TELEGRAM_BOT_TOKEN.",
            )
        if isinstance(exc, tg.BadRequest):
            return Outcome("failed", error=f"Telegram rejected the message ({_detail(exc)}).")
        if isinstance(exc, tg.TimedOut):
            return Outcome(
                "retry",
                error=f"Telegram did not answer within {_seconds(self._timeout)} seconds.",
            )
        if isinstance(exc, tg.ChatMigrated):
            return Outcome(
                "failed", error=f"The group chat moved to a new chat id {exc.new_chat_id}."
            )
        if isinstance(exc, tg.NetworkError):
            if status is None:
                return Outcome("retry", error=f"Could not reach Telegram ({_detail(exc)}).")
            if status >= 500 or status == 429:
                return Outcome("retry", error=f"Telegram answered {status} ({_detail(exc)}).")
            return Outcome("failed", error=f"Telegram answered {status} ({_detail(exc)}).")
        if isinstance(exc, tg.TelegramError):
            return Outcome("failed", error=f"Telegram error ({_detail(exc)}).")
        return Outcome(
            "failed", error=f"Unexpected error sending to Telegram ({type(exc).__name__})."
        )


def _retry_after_seconds(exc: Any) -> float:
    """RetryAfter.retry_after: a timedelta with PTB_TIMEDELTA on (and from PTB 23), else int."""
    with warnings.catch_warnings():  # someone turned PTB_TIMEDELTA off: no warning from us
        warnings.simplefilter("ignore")
        value = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


# --- the dry run -----------------------------------------------------------------------


class DryRunTransport:
    """No network: every message is "sent", with increasing fake message ids.

    What was sent is kept in ``sent`` as (chat_id, text, message_id), oldest first.
    """

    name = "dry run"
    dry_run = True

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.sent: list[tuple[int, str, int]] = []
        self.photos: dict[int, bytes] = {}  # message id → the picture a digest carried

    def __repr__(self) -> str:
        return "DryRunTransport()"

    def send(self, chat_id: int, text: str, photo: bytes | None = None) -> Outcome:
        with self._lock:
            message_id = next(self._ids)
            self.sent.append((chat_id, text, message_id))
            if photo is not None:
                self.photos[message_id] = photo
        return Outcome("sent", message_id=message_id)

    def close(self) -> None:
        pass


def transport_from_settings(token: str | None, base_url: str | None, is_demo: bool) -> Transport:
    """The demo database gets the dry run; a real one needs a token (ValidationError)."""
    if is_demo:
        return DryRunTransport()
    if not (token or "").strip():
        raise ValidationError(MISSING_TOKEN)
    return TelegramTransport(token or "", base_url or DEFAULT_API_URL)
