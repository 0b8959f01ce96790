"""Log lines are JSON for the server, carry the request context, and never hold a patient's phone or words."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import structlog
from uvicorn.config import LOGGING_CONFIG

from atende.logs import ROUTED_LOGGERS, bound_request, configure_logging, mask_phones

PHONE_DIGITS = "5511987654321"
PHONES = [
    "+5511987654321",
    "5511987654321",
    "11987654321",
    "(11) 98765-4321",
    "+55 (11) 98765-4321",
    "+55 11 98765-4321",
    "55 11 9 8765 4321",
    "5511987654321@c.us",
]
BODY = "Oi, quero marcar uma limpeza amanhã às 9h"
NOT_PHONES = [
    "2026-03-11T09:00:00-03:00",
    "2026-03-11T12:00:00+00:00",
    "2026-03-11 09:00:00.123456Z",
    "2026-03-11",
    "3f2b8c1e-9a7d-4c1b-8e2f-5d6c7b8a9e0f",
    "12345678-1234-5678-1234-567812345678",
    "R$ 1.234,56",
    "R$ 150,00",
    "1234567890.50",
    "US$ 12,345,678.90",
    "ana-souza|limpeza|2026-03-11T09:00",
    "wamid.HBgMNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBDMEI1MTIzNDU2Nzg5MDEyMzQA",
    "wamid.HBgN+5511987654321/FQIAERgSOUE2MkM5QzlBNTk4NjcwNQA=",
]


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    """A stream to configure logging with; logging and structlog are put back as they were after."""
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    names = (*ROUTED_LOGGERS, "atende.test", "atende.chatty")
    saved = {
        name: (lg.handlers[:], lg.propagate, lg.level, lg.filters[:])
        for name in names
        if (lg := logging.getLogger(name))
    }
    yield io.StringIO()
    root.handlers[:], root.level = saved_root
    for name, (handlers, propagate, level, filters) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:], lg.propagate, lg.filters[:] = handlers, propagate, filters
        lg.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def assert_no_phone(text: str) -> None:
    runs = {PHONE_DIGITS[i : i + 8] for i in range(len(PHONE_DIGITS) - 7)}
    leaked = [run for run in runs if run in text]
    assert not leaked, f"phone digits {leaked} in {text}"


def test_info_lines_mask_every_phone_format_and_every_body(out: io.StringIO) -> None:
    configure_logging("INFO", json=True, stream=out)
    log = structlog.get_logger("atende.test")
    for phone in PHONES:
        log.info("inbound", phone=phone, note=f"paciente {phone} pediu horário", reply=BODY)
    log.info(
        "payload",
        raw={
            "phone": PHONE_DIGITS,
            "text": {"message": BODY},
            "parts": [{"type": "text", "text": BODY}],
            PHONE_DIGITS: "key",
        },
        transcript=[BODY, BODY],
    )

    text = out.getvalue()
    assert_no_phone(text)
    assert "amanhã" not in text and "limpeza" not in text
    records = lines(out)
    assert len(records) == len(PHONES) + 1
    for record in records[:-1]:
        assert "4321" in record["phone"]
        assert record["reply"] == f"[{len(BODY)} chars]"
    assert records[0]["phone"] == "+55*******4321"
    assert records[3]["phone"] == "*******4321"  # (11) 98765-4321
    assert records[7]["phone"] == "55*******4321@c.us"
    raw = records[-1]["raw"]
    assert raw["text"] == {"message": f"[{len(BODY)} chars]"}
    assert raw["parts"] == [{"type": "text", "text": f"[{len(BODY)} chars]"}]
    assert records[-1]["transcript"] == [f"[{len(BODY)} chars]"] * 2


def test_debug_keeps_bodies_but_still_masks_phones(out: io.StringIO) -> None:
    configure_logging("DEBUG", json=True, stream=out)
    structlog.get_logger("atende.test").debug(
        "inbound", phone="(11) 98765-4321", text=f"{BODY}, meu número é 11987654321"
    )
    [record] = lines(out)
    assert record["text"] == f"{BODY}, meu número é *******4321"
    assert_no_phone(out.getvalue())


def test_bodies_follow_the_level_of_the_logger_that_emits_them(out: io.StringIO) -> None:
    configure_logging("INFO", json=True, stream=out)
    logging.getLogger("atende.chatty").setLevel(logging.DEBUG)
    structlog.get_logger("atende.chatty").info("turn", reply=BODY)
    structlog.get_logger("atende.test").info("turn", reply=BODY)
    chatty, quiet = lines(out)
    assert chatty["reply"] == BODY
    assert quiet["reply"] == f"[{len(BODY)} chars]"


def test_bodies_inside_strings_and_reprs_are_masked(out: io.StringIO) -> None:
    @dataclass
    class Request:
        phone: str
        text: str

    configure_logging("INFO", json=True, stream=out)
    structlog.get_logger("atende.test").warning(
        "rejected",
        raw=json.dumps({"phone": PHONE_DIGITS, "text": {"message": BODY}}, ensure_ascii=False),
        request=Request(phone="+5511987654321", text=BODY),
        error=f"1 validation error\n  input_value='{BODY}', input_type=str",
    )
    text = out.getvalue()
    assert_no_phone(text)
    assert "limpeza" not in text
    [record] = lines(out)
    assert f'"message": [{len(BODY)} chars]' in record["raw"]
    assert record["request"].endswith(f"text=[{len(BODY)} chars])")


def test_tracebacks_are_masked(out: io.StringIO) -> None:
    configure_logging("INFO", json=True, stream=out)
    log = structlog.get_logger("atende.test")
    try:
        raise ValueError(f"could not send {BODY!r} to 5511987654321@c.us")
    except ValueError:
        log.exception("send_failed", reply=BODY)
    try:
        raise ConnectionError("no route to 5511987654321@c.us")
    except ConnectionError:
        logging.getLogger("httpx").error("request failed", exc_info=True)
    text = out.getvalue()
    assert_no_phone(text)
    assert "limpeza" not in text
    ours, library = lines(out)
    assert "ValueError: could not send" in ours["exception"]
    assert f"[{len(BODY)} chars]" in ours["exception"]
    assert "55*******4321@c.us" in library["exception"]


def test_request_context_is_on_every_line_until_the_block_ends(out: io.StringIO) -> None:
    configure_logging("INFO", json=True, stream=out)
    log = structlog.get_logger("atende.test")
    with bound_request(request_id="req-1", tenant="clinica-exemplo", conversation=12) as rid:
        log.info("webhook_received")
        logging.getLogger("httpx").info("HTTP Request: POST https://graph.facebook.com")
    log.info("idle")
    inside, library, after = lines(out)
    assert rid == "req-1"
    for record in (inside, library):
        assert (record["request_id"], record["tenant"], record["conversation_id"]) == (
            "req-1",
            "clinica-exemplo",
            12,
        )
    assert "request_id" not in after and "tenant" not in after


def test_bound_request_makes_up_an_id_when_none_is_given(out: io.StringIO) -> None:
    configure_logging("INFO", json=True, stream=out)
    with bound_request(tenant="clinica-exemplo") as rid:
        structlog.get_logger("atende.test").info("x")
    [record] = lines(out)
    assert rid and record["request_id"] == rid and "conversation_id" not in record


def test_uvicorn_access_log_is_a_json_line_even_after_uvicorns_own_config(out: io.StringIO) -> None:
    logging.config.dictConfig(LOGGING_CONFIG)  # what `uvicorn --factory ...` does before the app
    configure_logging("INFO", json=True, stream=out)
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5123",
        "GET",
        "/webhooks/meta?hub.verify_token=s3cret&hub.challenge=99&phone=5511987654321",
        "1.1",
        200,
    )
    logging.getLogger("httpx").info(
        'HTTP Request: %s %s "%s"',
        "POST",
        "https://api.z-api.io/instances/3C0FFEE/token/T0KEN123/send-text",
        "HTTP/1.1 200 OK",
    )
    access, client = lines(out)
    assert access["event"] == "http_request" and access["status"] == 200
    assert access["http_method"] == "GET" and access["logger"] == "uvicorn.access"
    assert "s3cret" not in access["path"] and "challenge=99" in access["path"]
    assert "T0KEN123" not in client["event"] and client["level"] == "info"
    assert_no_phone(out.getvalue())


def test_console_lines_for_the_cli_are_masked_too(out: io.StringIO) -> None:
    configure_logging("INFO", stream=out)
    structlog.get_logger("atende.test").warning("guard_violation", reply=BODY, phone="+5511987654321")
    text = out.getvalue()
    assert "guard_violation" in text and "+55*******4321" in text
    assert f"[{len(BODY)} chars]" in text and "limpeza" not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_warnings_and_above_only_at_error_level(out: io.StringIO) -> None:
    configure_logging("ERROR", stream=out)
    log = structlog.get_logger("atende.test")
    log.warning("model_fallback")
    log.error("turn_failed")
    assert "turn_failed" in out.getvalue() and "model_fallback" not in out.getvalue()


@pytest.mark.parametrize("value", NOT_PHONES)
def test_ids_dates_and_prices_are_not_masked(out: io.StringIO, value: str) -> None:
    assert mask_phones(value) == value
    configure_logging("INFO", json=True, stream=out)
    structlog.get_logger("atende.test").info("booked", value=value, sentence=f"em {value}.")
    [record] = lines(out)
    assert (record["value"], record["sentence"]) == (value, f"em {value}.")


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+5511987654321", "+55*******4321"),
        ("5511987654321", "55*******4321"),
        ("(11) 98765-4321", "*******4321"),
        ("+55 (11) 3456-7890", "+55******7890"),
        ("98765-4321", "*****4321"),
        ("+1 415 555 2671", "+*******2671"),
        ("whatsapp:+5511987654321", "whatsapp:+55*******4321"),
        ("tel.5511987654321", "tel.55*******4321"),
    ],
)
def test_phone_formats_keep_only_the_last_four_digits(phone: str, masked: str) -> None:
    assert mask_phones(phone) == masked


def test_other_handlers_get_structlog_events_already_masked(
    out: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging("INFO", json=True, stream=out)
    structlog.get_logger("atende.test").info("inbound", phone="+5511987654321", text=BODY)
    [record] = [r for r in caplog.records if r.name == "atende.test"]
    assert isinstance(record.msg, dict)
    assert (record.msg["phone"], record.msg["text"]) == ("+55*******4321", f"[{len(BODY)} chars]")
