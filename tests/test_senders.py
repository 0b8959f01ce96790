"""Z-API and Meta senders: the exact request each provider gets, and how failures are classified.

Cassettes prove the request matches the providers' documented shape (method, URL, JSON body);
the Client-Token / Authorization headers, which cassettes never store, are asserted on the
request as it left the client. The classification table runs on httpx.MockTransport.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from vcr_config import FILTER_HEADERS, block_network, make_vcr

from atende.errors import ConfigError
from atende.server.channels.meta.sender import MetaSender
from atende.server.channels.zapi.sender import ZapiSender
from atende.server.senders import Sender, SendError, retry_after_seconds
from atende.tools.choices import Choice

PATIENT = "+5500000000001"  # the scrubbed form of a +55 11 9xxxx-xxxx patient
CONFIRMED = "Consulta confirmada: terça 10/03 às 09:00 com a Dra. Ana."
ZAPI_TOKEN = "zapi-instance-token-SECRET-1"
ZAPI_CLIENT_TOKEN = "zapi-account-client-token-SECRET-2"
META_TOKEN = "EAAGmetaAccessTokenSECRET3"
SECRETS = (ZAPI_TOKEN, ZAPI_CLIENT_TOKEN, META_TOKEN)
def option(id_: str, title: str, detail: str = "") -> Choice:
    return Choice(id=id_, label=f"{title} com {detail}" if detail else title, title=title,
                  detail=detail)


BUTTONS = [option("confirm", "Confirmar"), option("reschedule", "Remarcar"),
           option("cancel", "Cancelar")]
SLOTS = [option("ana-souza|limpeza|2026-03-11T08:00", "qua 11/03 às 08:00", "Dra. Ana Souza"),
         option("carla-mendes|limpeza|2026-03-11T08:00", "qua 11/03 às 08:00", "Dra. Carla Mendes")]

Handler = Callable[[httpx.Request], httpx.Response]


def channel_vcr() -> Any:
    """Replay only, matching the JSON body too; never store the Z-API Client-Token."""
    return make_vcr(
        filter_headers=[*FILTER_HEADERS, "client-token"],
        match_on=["method", "scheme", "host", "port", "path", "query", "body"],
    )


def recording_client() -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    """A real-transport client (the cassette answers) that remembers what it sent."""
    sent: list[httpx.Request] = []

    async def remember(request: httpx.Request) -> None:
        sent.append(request)

    return httpx.AsyncClient(event_hooks={"request": [remember]}), sent


def mock_client(handler: Handler) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return handler(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), sent


def zapi(http: httpx.AsyncClient, token: str = "TEST-TOKEN") -> ZapiSender:
    return ZapiSender(
        http,
        base_url="https://api.z-api.io",
        instance_id="TEST-INSTANCE",
        token=token,
        client_token=ZAPI_CLIENT_TOKEN,
    )


def meta(http: httpx.AsyncClient) -> MetaSender:
    return MetaSender(
        http,
        graph_url="https://graph.facebook.com",
        api_version="v21.0",
        phone_number_id="100000000000001",
        access_token=META_TOKEN,
    )


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    return block_network(monkeypatch)


# --- the happy paths, against cassettes -------------------------------------------------------


async def test_zapi_send_text_posts_digits_and_message_with_the_client_token(
    offline: list[object],
) -> None:
    http, sent = recording_client()
    sender: Sender = zapi(http)

    with channel_vcr().use_cassette("zapi_send_text.yaml") as cassette:
        result = await sender.send_text(PATIENT, CONFIRMED)

    assert result.provider_message_id == "D241XXXX732339502B68"  # messageId: what webhooks carry
    assert cassette.all_played and offline == []
    (request,) = sent
    assert request.method == "POST"
    assert str(request.url) == ("https://api.z-api.io/instances/TEST-INSTANCE/token/TEST-TOKEN/send-text")
    assert request.headers["client-token"] == ZAPI_CLIENT_TOKEN
    assert "authorization" not in request.headers
    assert json.loads(request.content) == {"phone": "5500000000001", "message": CONFIRMED}
    await http.aclose()


async def test_meta_send_text_posts_the_documented_body_with_the_bearer(
    offline: list[object],
) -> None:
    http, sent = recording_client()
    sender: Sender = meta(http)

    with channel_vcr().use_cassette("meta_send_text.yaml") as cassette:
        result = await sender.send_text(PATIENT, CONFIRMED)

    assert result.provider_message_id == "wamid.gBGGSFcCNEOPAgkO_KJ55r4w_ww"
    assert cassette.all_played and offline == []
    (request,) = sent
    assert str(request.url) == "https://graph.facebook.com/v21.0/100000000000001/messages"
    assert request.headers["authorization"] == f"Bearer {META_TOKEN}"
    assert json.loads(request.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5500000000001",
        "type": "text",
        "text": {"preview_url": False, "body": CONFIRMED},
    }
    await http.aclose()


async def test_meta_buttons_go_out_as_an_interactive_button_message(offline: list[object]) -> None:
    http, sent = recording_client()
    question = "Posso confirmar sua limpeza amanhã às 09:00?"

    with channel_vcr().use_cassette("meta_send_buttons.yaml") as cassette:
        result = await meta(http).send_text(PATIENT, question, choices=BUTTONS)

    assert result.provider_message_id.startswith("wamid.")
    assert cassette.all_played
    body = json.loads(sent[0].content)
    assert body["type"] == "interactive"
    assert body["interactive"]["type"] == "button"
    assert body["interactive"]["body"] == {"text": question}
    assert [b["reply"] for b in body["interactive"]["action"]["buttons"]] == [
        {"id": "confirm", "title": "Confirmar"},
        {"id": "reschedule", "title": "Remarcar"},
        {"id": "cancel", "title": "Cancelar"},
    ]
    await http.aclose()


async def test_meta_mark_read_sends_the_read_receipt(offline: list[object]) -> None:
    http, sent = recording_client()
    wamid = "wamid.HBgNNTUwMDAwMDAwMDAwMRUCABIYFjNFQjBGQjQxQTc3RkJCMjlBNDg4AA=="

    with channel_vcr().use_cassette("meta_mark_read.yaml") as cassette:
        await meta(http).mark_read(wamid)

    assert cassette.all_played
    assert sent[0].headers["authorization"] == f"Bearer {META_TOKEN}"
    assert json.loads(sent[0].content) == {
        "messaging_product": "whatsapp", "status": "read", "message_id": wamid,
    }  # fmt: skip
    await http.aclose()


# --- choices: a list to tap on Meta, numbered lines where taps do not fit -------------------


def _ok(request: httpx.Request) -> httpx.Response:
    if "z-api" in request.url.host:
        return httpx.Response(200, json={"zaapId": "z1", "messageId": "ZAPI-1", "id": "ZAPI-1"})
    return httpx.Response(200, json={"messages": [{"id": "wamid.META-1"}]})


NUMBERED = "Posso confirmar?\n\n1. Confirmar\n2. Remarcar\n3. Cancelar"


async def test_zapi_sends_choices_as_numbered_options() -> None:
    http, sent = mock_client(_ok)

    await zapi(http).send_text(PATIENT, "Posso confirmar?", choices=BUTTONS)

    assert json.loads(sent[0].content)["message"] == NUMBERED
    assert sent[0].url.path.endswith("/send-text")
    await http.aclose()


async def test_meta_sends_slots_as_a_list_whose_rows_come_from_the_data() -> None:
    http, sent = mock_client(_ok)

    await meta(http).send_text(PATIENT, "Horários para Limpeza. Qual prefere?", choices=SLOTS)

    interactive = json.loads(sent[0].content)["interactive"]
    assert interactive["type"] == "list"  # two slots at 08:00: a button could not tell them apart
    assert interactive["body"] == {"text": "Horários para Limpeza. Qual prefere?"}
    assert interactive["action"]["sections"][0]["rows"] == [
        {"id": "ana-souza|limpeza|2026-03-11T08:00", "title": "1. qua 11/03 às 08:00",
         "description": "Dra. Ana Souza"},
        {"id": "carla-mendes|limpeza|2026-03-11T08:00", "title": "2. qua 11/03 às 08:00",
         "description": "Dra. Carla Mendes"},
    ]
    await http.aclose()


async def test_meta_takes_up_to_ten_choices_as_list_rows() -> None:
    http, sent = mock_client(_ok)
    four = [*BUTTONS, option("other", "Outro horário")]

    await meta(http).send_text(PATIENT, "Posso confirmar?", choices=four)

    rows = json.loads(sent[0].content)["interactive"]["action"]["sections"][0]["rows"]
    assert [(r["id"], r["title"]) for r in rows] == [
        ("confirm", "1. Confirmar"), ("reschedule", "2. Remarcar"), ("cancel", "3. Cancelar"),
        ("other", "4. Outro horário")]
    await http.aclose()


@pytest.mark.parametrize(
    "choices",
    [
        pytest.param([option(f"o{n}", f"Opção {n}") for n in range(11)], id="eleven"),
        pytest.param([option("confirm", "Confirmar minha consulta amanhã")], id="title-over-24"),
        pytest.param([option("same", "Sim"), option("same", "Não")], id="duplicate-ids"),
        pytest.param([option("a", "  ")], id="blank-title"),
        pytest.param([option("a", "Sim", "x" * 73)], id="detail-over-72"),
    ],
)
async def test_meta_falls_back_to_numbered_text_when_choices_do_not_fit(
    choices: list[Choice],
) -> None:
    http, sent = mock_client(_ok)

    result = await meta(http).send_text(PATIENT, "Posso confirmar?", choices=choices)

    assert result.provider_message_id == "wamid.META-1"
    body = json.loads(sent[0].content)
    assert body["type"] == "text" and "interactive" not in body
    lines = body["text"]["body"].splitlines()
    assert lines[0] == "Posso confirmar?"
    assert lines[2:] == [f"{n}. {c.label}" for n, c in enumerate(choices, start=1)]
    await http.aclose()


async def test_meta_falls_back_when_the_text_is_too_long_for_an_interactive_body() -> None:
    http, sent = mock_client(_ok)

    await meta(http).send_text(PATIENT, "a " * 600, choices=BUTTONS)

    assert json.loads(sent[0].content)["type"] == "text"
    await http.aclose()


# --- refused before any request ---------------------------------------------------------------


@pytest.mark.parametrize("make", [zapi, meta], ids=["zapi", "meta"])
@pytest.mark.parametrize(
    ("phone", "text", "code"),
    [
        ("5511-not-a-phone", "Oi", "invalid_recipient"),
        ("", "Oi", "invalid_recipient"),
        (PATIENT, "   ", "empty_message"),
    ],
)
async def test_unsendable_messages_fail_permanently_without_a_request(
    make: Callable[[httpx.AsyncClient], Sender], phone: str, text: str, code: str
) -> None:
    http, sent = mock_client(_ok)

    with pytest.raises(SendError) as caught:
        await make(http).send_text(phone, text)

    assert (caught.value.code, caught.value.retryable) == (code, False)
    assert sent == []
    await http.aclose()


def test_blank_credentials_are_a_config_error() -> None:
    http = httpx.AsyncClient()
    with pytest.raises(ConfigError, match="client_token"):
        ZapiSender(http, base_url="https://api.z-api.io", instance_id="i", token="t", client_token=" ")
    with pytest.raises(ConfigError, match="access_token"):
        MetaSender(
            http,
            graph_url="https://graph.facebook.com",
            api_version="v21.0",
            phone_number_id="1",
            access_token="",
        )


# --- the classification table -----------------------------------------------------------------


def meta_error(status: int, code: int, message: str = "error", **headers: str) -> Handler:
    body = {"error": {"message": f"(#{code}) {message}", "type": "OAuthException", "code": code,
                      "error_data": {"messaging_product": "whatsapp", "details": message},
                      "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}}  # fmt: skip
    return lambda request: httpx.Response(status, json=body, headers=headers)


def reply(status: int, **kwargs: Any) -> Handler:
    return lambda request: httpx.Response(status, **kwargs)


def raise_(exc_type: type[httpx.RequestError]) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        # Some transports put the URL in the message; it holds the Z-API token.
        raise exc_type(f"failed talking to {request.url}", request=request)

    return handle


# (handler, retryable, code, retry_after, status)
ZAPI_CASES = {
    "429-retry-after": (reply(429, json={"error": "rate"}, headers={"Retry-After": "7"}),
                        True, "http_429", 7.0, 429),
    "500": (reply(500, text="Internal Server Error"), True, "http_500", None, 500),
    "503-html": (reply(503, html="<html>bad gateway</html>"), True, "http_503", None, 503),
    "400-no-client-token": (reply(400, json={"error": "null not allowed"}),
                            False, "http_400", None, 400),
    "401": (reply(401, json={"error": "unauthorized"}), False, "http_401", None, 401),
    "404-instance": (reply(404, json={"error": "Instance not found"}), False, "http_404", None, 404),
    "connect-error": (raise_(httpx.ConnectError), True, "network", None, None),
    "read-timeout": (raise_(httpx.ReadTimeout), True, "timeout", None, None),
    "connect-timeout": (raise_(httpx.ConnectTimeout), True, "timeout", None, None),
    "200-without-id": (reply(200, json={"zaapId": ""}), False, "no_message_id", None, 200),
}  # fmt: skip
META_CASES = {
    "400-131047-reengagement": (meta_error(400, 131047, "Re-engagement message"),
                                False, "131047", None, 400),
    "400-130429-throughput": (meta_error(400, 130429, "Rate limit hit"), True, "130429", None, 400),
    "429-130429-retry-after": (meta_error(429, 130429, "Rate limit hit", **{"Retry-After": "30"}),
                               True, "130429", 30.0, 429),
    "400-131056-pair-rate": (meta_error(400, 131056, "Pair rate limit hit"),
                             True, "131056", None, 400),
    "500-131000-generic": (meta_error(500, 131000, "Something went wrong"),
                           True, "131000", None, 500),
    "400-80007-waba-rate": (meta_error(400, 80007, "Rate limit issues"), True, "80007", None, 400),
    "400-131026-undeliverable": (meta_error(400, 131026, "Message undeliverable"),
                                 False, "131026", None, 400),
    "401-190-token": (meta_error(401, 190, "Access token has expired"), False, "190", None, 401),
    "404-132001-template": (meta_error(404, 132001, "Template name does not exist"),
                            False, "132001", None, 404),
    "400-131030-not-allowed": (meta_error(400, 131030, "Recipient not in allowed list"),
                               False, "131030", None, 400),
    "500-131026-permanent-wins": (meta_error(500, 131026, "Message undeliverable"),
                                  False, "131026", None, 500),
    "400-100-bad-param": (meta_error(400, 100, "Invalid parameter"), False, "100", None, 400),
    "502-html": (reply(502, html="<html>502</html>"), True, "http_502", None, 502),
    "401-no-body": (reply(401), False, "http_401", None, 401),
    "connect-error": (raise_(httpx.ConnectError), True, "network", None, None),
    "read-timeout": (raise_(httpx.ReadTimeout), True, "timeout", None, None),
    "remote-protocol-error": (raise_(httpx.RemoteProtocolError), True, "network", None, None),
    "200-without-messages": (reply(200, json={"messaging_product": "whatsapp"}),
                             False, "no_message_id", None, 200),
}  # fmt: skip
ALL_CASES = [pytest.param(zapi, *case, id=f"zapi-{name}") for name, case in ZAPI_CASES.items()] + [
    pytest.param(meta, *case, id=f"meta-{name}") for name, case in META_CASES.items()
]


@pytest.mark.parametrize(("make", "handler", "retryable", "code", "retry_after", "status"), ALL_CASES)
async def test_failures_are_classified_for_the_outbox(
    make: Callable[[httpx.AsyncClient], Sender],
    handler: Handler,
    retryable: bool,
    code: str,
    retry_after: float | None,
    status: int | None,
) -> None:
    http, sent = mock_client(handler)

    with pytest.raises(SendError) as caught:
        await make(http).send_text(PATIENT, CONFIRMED)

    error = caught.value
    assert (error.retryable, error.code, error.retry_after, error.status) == (
        retryable, code, retry_after, status,
    )  # fmt: skip
    assert len(sent) == 1  # one attempt: the outbox owns retries
    await http.aclose()


async def test_meta_error_message_keeps_the_details_ops_need() -> None:
    http, _ = mock_client(meta_error(400, 131047, "Re-engagement message"))

    with pytest.raises(SendError) as caught:
        await meta(http).send_text(PATIENT, CONFIRMED)

    text = str(caught.value)
    assert "HTTP 400" in text and "131047" in text and "Re-engagement message" in text
    assert "Az8or2yhqkZfEZ-_4Qn_Bam" in text  # fbtrace_id: what Meta support asks for
    await http.aclose()


async def test_mark_read_failures_are_send_errors_too() -> None:
    http, _ = mock_client(meta_error(400, 100, "Invalid parameter"))

    with pytest.raises(SendError) as caught:
        await meta(http).mark_read("wamid.unknown")

    assert (caught.value.code, caught.value.retryable) == ("100", False)
    await http.aclose()


# --- no credential leaks ----------------------------------------------------------------------


def _everything_said(error: BaseException) -> str:
    return "\n".join(
        [str(error), repr(error), *map(str, error.args), "".join(traceback.format_exception(error))]
    )


@pytest.mark.parametrize(("make", "handler", "retryable", "code", "retry_after", "status"), ALL_CASES)
async def test_no_error_message_or_repr_contains_a_credential(
    make: Callable[[httpx.AsyncClient], Sender],
    handler: Handler,
    retryable: bool,
    code: str,
    retry_after: float | None,
    status: int | None,
) -> None:
    def echo_secrets(request: httpx.Request) -> httpx.Response:
        # A buggy gateway that echoes the request (URL and credentials) in its error body.
        response = handler(request)
        if response.status_code < 400:
            return response
        echo = (
            f" url={request.url} auth={request.headers.get('authorization')}"
            f" client-token={request.headers.get('client-token')}"
        )
        if "json" not in response.headers.get("content-type", ""):
            return httpx.Response(response.status_code, text=response.text + echo)
        data = response.json()
        if isinstance(data.get("error"), dict):
            data["error"]["message"] += echo
            data["error"]["error_data"]["details"] += echo
        else:
            data["error"] = f"{data.get('error')}{echo}"
        return httpx.Response(response.status_code, json=data, headers=response.headers)

    http, _ = mock_client(echo_secrets)
    sender = zapi(http, token=ZAPI_TOKEN) if make is zapi else make(http)

    with pytest.raises(SendError) as caught:
        await sender.send_text(PATIENT, CONFIRMED)

    said = _everything_said(caught.value)
    for secret in SECRETS:
        assert secret not in said
        assert secret not in repr(sender)
    await http.aclose()


async def test_httpx_request_log_hides_the_zapi_token(caplog: pytest.LogCaptureFixture) -> None:
    http, _ = mock_client(_ok)

    with caplog.at_level(logging.INFO, logger="httpx"):
        await zapi(http, token=ZAPI_TOKEN).send_text(PATIENT, CONFIRMED)

    assert "HTTP Request: POST" in caplog.text  # httpx did log the request...
    assert "/instances/TEST-INSTANCE/token/***/send-text" in caplog.text
    assert ZAPI_TOKEN not in caplog.text  # ...without the credential in its URL
    await http.aclose()


# --- Retry-After ------------------------------------------------------------------------------

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 1.5 ", 1.5),
        ("Tue, 10 Mar 2026 12:00:45 GMT", 45.0),
        ("Tue, 10 Mar 2026 11:00:00 GMT", 0.0),  # already past: retry now, not in the past
        ("-5", 0.0),
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_accepts_seconds_and_http_dates(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, now=NOW) == seconds
