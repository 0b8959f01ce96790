"""Through a real webhook turn, INFO logs carry ids but never a full phone or a message body."""

from __future__ import annotations

import json

from server_harness import ZAPI_URL, running, zapi_text
from test_logs import out  # noqa: F401 - the fixture that restores logging afterwards

from atende.logs import configure_logging

PHONE = "5511987650123"
SECRET_WORDS = "minha consulta de canal dói muito"


async def test_no_phone_or_body_in_info_logs_of_a_whole_turn(tmp_path, out):  # noqa: F811
    configure_logging("INFO", json=True, stream=out)
    async with running(tmp_path) as srv:
        await srv.client.post(ZAPI_URL, json=zapi_text(f"Oi! {SECRET_WORDS}", phone=PHONE))
        await srv.client.post("/webhooks/zapi/clinica-exemplo/wrong-secret",
                              json=zapi_text("x", phone=PHONE))
        await srv.settle()
    text = out.getvalue()
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert records, "the turn logged nothing"
    assert any(r.get("request_id") for r in records), records
    assert any(r.get("conversation_id") for r in records), [r["event"] for r in records]
    assert PHONE not in text and PHONE[2:] not in text and PHONE[4:] not in text
    assert SECRET_WORDS not in text and "dói" not in text
    assert srv.providers.to(PHONE)  # the patient was answered all the same
