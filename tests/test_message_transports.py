"""Transports: the real client library (python-telegram-bot) against a real local HTTP
stand-in for the Bot API, the dry run, and choosing one from the settings."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from hsl.errors import ValidationError
from hsl.messaging.transports import (
    MISSING_TOKEN,
    DryRunTransport,
    Outcome,
    TelegramTransport,
    Transport,
    transport_from_settings,
)
from tests.telegram_standin import (
    STANDIN_TOKEN,
    TelegramStandin,
    standin_fixture,  # noqa: F401 - the `standin` fixture
)

TIMEOUT = 0.5  # seconds; the stand-in answers in milliseconds
CHAT = 424242
# Not shaped like a BotFather token, so only the transport's own memory of it can hide it.
ODD_TOKEN = "Odd-Secret-Token-qwertzuiop-asdfghjkl-0123456789-ZZZ"


@pytest.fixture
def transport(standin: TelegramStandin) -> Iterator[TelegramTransport]:
    with TelegramTransport(standin.token, standin.base_url, timeout=TIMEOUT) as real:
        yield real


def one_sentence(text: str | None) -> bool:
    return bool(text) and text.endswith(".") and ". " not in text and "\n" not in text


def test_success_returns_telegrams_message_id_and_the_exact_html(standin, transport):
    text = '<b>Hi</b> <a href="https://example.com/?a=1&amp;b=2">Anna</a> [10th] {x} ✓'
    standin.script(CHAT, ["ok"])  # message_id 1
    first = transport.send(CHAT, text)
    second = transport.send(CHAT + 1, "second")

    assert first == Outcome("sent", message_id=1)
    assert second == Outcome("sent", message_id=2)
    got = standin.messages_to(CHAT)
    assert len(got) == 1
    assert got[0].text == text
    assert got[0].parse_mode == "HTML"
    assert got[0].params["link_preview_options"] == {"is_disabled": True}
    assert transport.name == "Telegram" and transport.dry_run is False
    assert isinstance(transport, Transport)


def _png_pixel() -> bytes:
    """A valid 1×1 grey PNG, built by hand."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1×1, 8-bit greyscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b""))


PIXEL = _png_pixel()


def test_a_photo_goes_out_by_sendphoto_with_the_text_as_its_caption(standin, transport):
    caption = "<b>Weekly funnel</b>\n1 Nov – 30 Nov 2026: 390 registered"
    outcome = transport.send(-1001234567890, caption, photo=PIXEL)
    assert outcome == Outcome("sent", message_id=1)
    [got] = standin.messages
    assert (got.method, got.chat_id, got.text, got.parse_mode) == (
        "sendPhoto", -1001234567890, caption, "HTML")
    assert got.photo == PIXEL  # the very bytes, uploaded as a file


def test_a_refused_photo_is_an_outcome_like_a_message(standin, transport):
    standin.script(CHAT, ["403"])
    assert transport.send(CHAT, "digest", photo=PIXEL).kind == "blocked"


@pytest.mark.parametrize(
    ("step", "kind", "retry_after", "says"),
    [
        ("429:3", "retry", 3.0, "wait 3 seconds"),
        ("500", "retry", None, "500"),
        ("502", "retry", None, "502"),
        ("403", "blocked", None, "blocked by the user"),
        ("400", "failed", None, "chat not found"),
        ("413", "failed", None, "413"),  # anything else: failed, not retried
        ("drop", "retry", None, "Could not reach Telegram"),
    ],
)
def test_each_answer_maps_to_its_outcome(standin, transport, step, kind, retry_after, says):
    standin.script(CHAT, [step])
    outcome = transport.send(CHAT, "hello")

    assert outcome.kind == kind
    assert outcome.retry_after == retry_after
    assert outcome.message_id is None
    assert says.lower() in (outcome.error or "").lower()
    assert one_sentence(outcome.error), outcome.error
    assert [m.answer for m in standin.messages_to(CHAT)] == [step]


def test_an_answer_slower_than_the_timeout_is_a_retry(standin):
    standin.script(CHAT, ["slow:1.5"])
    with TelegramTransport(standin.token, standin.base_url, timeout=0.3) as quick:
        outcome = quick.send(CHAT, "hello")
    assert outcome == Outcome("retry", error="Telegram did not answer within 0.3 seconds.")


def test_a_script_is_followed_in_order_then_ok(standin, transport):
    standin.script(CHAT, ["429:3", "500", "ok"])
    kinds = [transport.send(CHAT, f"try {n}").kind for n in range(4)]

    assert kinds == ["retry", "retry", "sent", "sent"]
    got = standin.messages_to(CHAT)
    assert [m.answer for m in got] == ["429:3", "500", "ok", "ok"]
    assert [m.text for m in got] == ["try 0", "try 1", "try 2", "try 3"]
    assert all(a.at <= b.at for a, b in zip(got, got[1:], strict=False))


def test_a_wrong_token_fails_with_one_sentence(standin):
    with TelegramTransport("99999:" + "W" * 35, standin.base_url, timeout=TIMEOUT) as wrong:
        outcome = wrong.send(CHAT, "hello")
    assert outcome == Outcome(
        "failed", error="Telegram rejected the bot token; check HSL_TELEGRAM_BOT_TOKEN."
    )
    assert standin.messages == []
    assert [c.token_ok for c in standin.calls] == [False]


def test_nobody_listening_is_a_retry():
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with TelegramTransport(STANDIN_TOKEN, f"http://127.0.0.1:{port}", timeout=TIMEOUT) as t:
        outcome = t.send(CHAT, "hello")
    assert outcome.kind == "retry" and outcome.retry_after is None
    assert outcome.error.startswith("Could not reach Telegram")


@pytest.mark.parametrize("token", [STANDIN_TOKEN, ODD_TOKEN])
def test_the_token_is_in_no_error_repr_or_log_record(token, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "telegram", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)  # louder than anyone would run it

    texts: list[str] = []
    with TelegramStandin(token) as server:
        server.script(CHAT, ["ok", "429:3", "500", "403", "400", "413", "drop", "slow:1"])
        with TelegramTransport(token, server.base_url + "/", timeout=0.3) as real:
            texts += [repr(real), str(real)]
            texts += [str(real.send(CHAT, "hello")) for _ in range(8)]
        with TelegramTransport(token + "x", server.base_url, timeout=0.3) as wrong:
            texts += [repr(wrong), str(wrong.send(CHAT, "hello"))]
            texts += [str(wrong.send(CHAT, "hello"))]
    try:
        TelegramTransport(token, "ftp://" + token)
    except ValidationError as exc:
        texts.append(str(exc))

    assert texts and all(token not in text for text in texts)
    assert any("TelegramTransport(" in text and "<hidden>" in text for text in texts)
    records = caplog.records
    # Not vacuous: httpx and PTB did log the request URL, with the token scrubbed out.
    assert any(
        r.name == "httpx" and "/bot<bot token>/sendMessage" in r.getMessage() for r in records
    )
    assert any(r.name == "telegram.Bot" and "<bot token>" in r.getMessage() for r in records)
    for record in records:
        seen = [record.getMessage(), str(record.msg), repr(record.args), record.exc_text or ""]
        assert all(token not in text for text in seen), record.name
    assert token not in caplog.text


def test_one_event_loop_thread_serves_every_send_and_every_caller(standin):
    def loop_threads() -> int:
        return sum(t.name == "hsl-telegram-transport" for t in threading.enumerate())

    before = loop_threads()
    real = TelegramTransport(standin.token, standin.base_url, timeout=TIMEOUT)
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda n: real.send(CHAT + n, f"m{n}"), range(12)))
    assert loop_threads() == before + 1
    assert {o.kind for o in outcomes} == {"sent"}
    assert sorted(o.message_id for o in outcomes) == list(range(1, 13))

    real.close()
    real.close()  # a second close does nothing
    assert loop_threads() == before
    with pytest.raises(RuntimeError, match="closed"):
        real.send(CHAT, "after close")


def test_base_url_may_end_with_a_slash_or_with_bot(standin):
    for base in (standin.base_url + "/", standin.base_url + "/bot", standin.base_url + "/bot/"):
        with TelegramTransport(standin.token, base, timeout=TIMEOUT) as real:
            assert real.send(CHAT, base).kind == "sent"
    assert [m.text for m in standin.messages] == [
        standin.base_url + "/",
        standin.base_url + "/bot",
        standin.base_url + "/bot/",
    ]


def test_a_malformed_base_url_is_refused():
    with pytest.raises(ValidationError, match="HSL_TELEGRAM_API_URL"):
        TelegramTransport(STANDIN_TOKEN, "api.telegram.org")


def test_no_deprecation_warning_on_a_429(standin, transport, recwarn):
    standin.script(CHAT, ["429:2"])
    assert transport.send(CHAT, "x").retry_after == 2.0
    assert not [w for w in recwarn if "telegram" in str(w.filename)]


def test_the_dry_run_sends_nothing_and_counts_up():
    dry = DryRunTransport()
    outcomes = [dry.send(CHAT, "a"), dry.send(CHAT + 1, "b"), dry.send(CHAT, "c")]

    assert outcomes == [Outcome("sent", message_id=n) for n in (1, 2, 3)]
    assert dry.sent == [(CHAT, "a", 1), (CHAT + 1, "b", 2), (CHAT, "c", 3)]
    assert dry.dry_run is True and dry.name == "dry run"
    assert isinstance(dry, Transport)
    dry.close()


def test_transport_from_settings():
    sentence = (
        "Sending needs a Telegram bot token: set HSL_TELEGRAM_BOT_TOKEN, or bot_token under "
        "[telegram] in .streamlit/secrets.toml."
    )
    assert MISSING_TOKEN == sentence
    for token in (None, "", "   "):
        with pytest.raises(ValidationError) as caught:
            transport_from_settings(token, None, is_demo=False)
        assert str(caught.value) == sentence

    assert isinstance(transport_from_settings(None, None, is_demo=True), DryRunTransport)
    demo = transport_from_settings(STANDIN_TOKEN, None, is_demo=True)
    assert demo.dry_run is True and demo.name == "dry run"

    real = transport_from_settings(STANDIN_TOKEN, None, is_demo=False)  # no network yet
    try:
        assert isinstance(real, TelegramTransport) and real.dry_run is False
        assert (
            repr(real) == "TelegramTransport(base_url='https://api.telegram.org', token=<hidden>)"
        )
    finally:
        real.close()
