"""Voice notes from Z-API and Meta reach the model as text: the media download and the Whisper
call are replayed from recorded exchanges (cassettes), the network is never used."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml
from server_harness import ZAPI_URL, meta_message, running, signed, zapi_audio
from vcr_config import CASSETTES_DIR, make_vcr

from atende.agent.context import ModelChain
from atende.agent.models.scripted import ScriptedChatModel
from atende.agent.transcribe import WhisperTranscriber
from helpers import SwitchableModel

TRANSCRIPT = "Oi, queria marcar uma limpeza para amanhã de manhã."
ZAPI_AUDIO_URL = ("https://f004.backblazeb2.com/file/temp-file-download/instances/TEST-INSTANCE/"
                  "3A124E122ED13C2EE136/3A124E122ED13C2EE136.ogg")
META_MEDIA_ID = "1227829768162607"


def _combined(tmp_path: Path, *names: str, extra: list[dict] | None = None) -> Path:
    interactions = []
    for name in names:
        interactions += yaml.safe_load((CASSETTES_DIR / name).read_text("utf-8"))["interactions"]
    path = tmp_path / "combined.yaml"
    path.write_text(yaml.safe_dump({"interactions": interactions + (extra or []),
                                    "version": 1}), "utf-8")
    return path


def _scripted():
    model = ScriptedChatModel(["Perfeito, vou ver os horários de amanhã de manhã."])
    return model, SwitchableModel(ModelChain("scripted", model))


async def test_zapi_voice_note_is_downloaded_transcribed_and_answered(tmp_path):
    cassette = _combined(tmp_path, "zapi_media_voice_note.yaml", "openai_transcription_ptbr.yaml")
    model, chain = _scripted()
    recorder = make_vcr(cassette_library_dir=str(tmp_path), ignore_hosts=["zapi.test", "atende.test"],
                        match_on=["method", "host", "path"])
    with recorder.use_cassette(cassette.name) as tape:
        async with running(tmp_path, model=chain,
                           transcriber=WhisperTranscriber("sk-test-not-a-key")) as srv:
            answer = await srv.client.post(ZAPI_URL, json=zapi_audio(ZAPI_AUDIO_URL))
            await srv.settle()
            store = srv.services.atende.store
            conversation = await store.find_conversation("clinica-exemplo", "+5511987650101")
            (voice,) = [m for m in await store.list_messages(conversation.id) if m.kind == "audio"]
        assert tape.all_played
        assert voice.meta["transcript"] == TRANSCRIPT  # kept with the message
    assert answer.status_code == 200
    (call,) = model.calls
    assert call[-1].content == f"[áudio] {TRANSCRIPT}"
    assert srv.providers.to("5511987650101") == [
        "Perfeito, vou ver os horários de amanhã de manhã."]


async def test_meta_voice_note_goes_through_the_two_step_media_download(tmp_path):
    send = yaml.safe_load((CASSETTES_DIR / "meta_send_text.yaml").read_text("utf-8"))
    reply = send["interactions"][0]
    reply["request"]["uri"] = "https://graph.facebook.com/v21.0/1122334455667/messages"
    cassette = _combined(tmp_path, "meta_media_voice_note.yaml",
                         "openai_transcription_ptbr.yaml", extra=[reply])
    model, chain = _scripted()
    recorder = make_vcr(cassette_library_dir=str(tmp_path), ignore_hosts=["atende.test"],
                        match_on=["method", "host", "path"])
    audio = meta_message({"type": "audio", "audio": {
        "mime_type": "audio/ogg; codecs=opus", "sha256": "x", "id": META_MEDIA_ID,
        "voice": True}})
    with recorder.use_cassette(cassette.name) as tape:
        async with running(tmp_path, model=chain, http=httpx.AsyncClient(),
                           transcriber=WhisperTranscriber("sk-test-not-a-key"),
                           settings_overrides={"meta_graph_url": "https://graph.facebook.com",
                                               "meta_api_version": "v21.0"}) as srv:
            body, headers = signed(audio)
            answer = await srv.client.post("/webhooks/meta", content=body, headers=headers)
            await srv.settle()
        assert tape.all_played
        media_hops = [r for r in tape.requests if r.method == "GET"]
    assert answer.status_code == 200
    assert [r.host for r in media_hops] == ["graph.facebook.com", "lookaside.fbsbx.com"]
    (call,) = model.calls
    assert call[-1].content == f"[áudio] {TRANSCRIPT}"


async def test_an_expired_voice_note_gets_a_reply_asking_to_type(tmp_path):
    model, chain = _scripted()
    async with running(tmp_path, model=chain) as srv:
        await srv.client.post(ZAPI_URL, json=zapi_audio(ZAPI_AUDIO_URL.replace(".ogg", "-gone.ogg")))
        await srv.settle()
    assert model.calls == []
    (reply,) = srv.providers.to("5511987650101")
    assert "áudio" in reply and "escrito" in reply
