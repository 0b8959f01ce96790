"""Voice notes and other media are downloaded within limits; every failure says why."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from vcr_config import block_network, make_vcr

from atende.errors import ConfigError
from atende.server.inbound import MediaRef
from atende.server.media import DownloadedMedia, MediaFetcher, MediaUnavailable
from atende.settings import Settings
from helpers import fake_dns

OGG = b"OggS\x00\x02" + bytes(58)  # what the cassettes hold: 64 bytes from an Ogg page
TOKEN = "EAAGmetaAccessTokenSECRET3"
MEDIA_ID = "1227829768162607"
LOOKASIDE = (
    "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1228169767822607"
    "&ext=16772107977&hash=ATs5BiSbLTZzCFh73M16stmnUK2UV6NBqChXB4WWC21sw"
)
ZAPI_URL = (
    "https://f004.backblazeb2.com/file/temp-file-download/instances/TEST-INSTANCE/"
    "3A124E122ED13C2EE136/3A124E122ED13C2EE136.ogg"
)
META_VOICE = MediaRef(media_id=MEDIA_ID, mime_type="audio/ogg; codecs=opus", voice=True)
ZAPI_VOICE = MediaRef(url=ZAPI_URL, mime_type="audio/ogg; codecs=opus", seconds=4, voice=True)

Handler = Callable[[httpx.Request], httpx.Response]
META_HOSTS = Settings.model_fields["meta_media_hosts"].default
ZAPI_HOSTS = Settings.model_fields["zapi_media_hosts"].default

def fetcher(http: httpx.AsyncClient, **options: object) -> MediaFetcher:
    defaults: dict[str, object] = {
        "graph_url": "https://graph.facebook.com", "api_version": "v21.0", "max_bytes": 1024,
        "max_seconds": 60, "meta_hosts": META_HOSTS, "zapi_hosts": ZAPI_HOSTS, "resolve": fake_dns,
    }  # fmt: skip
    return MediaFetcher(http, **{**defaults, **options})  # type: ignore[arg-type]


def recording_client() -> tuple[httpx.AsyncClient, list[httpx.Request]]:
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


def meta_media(file_size: int = len(OGG), download: Handler | None = None) -> Handler:
    """Graph answers the media id with the lookaside URL; the lookaside URL with `download`."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "graph.facebook.com":
            return httpx.Response(200, json={
                "url": LOOKASIDE, "mime_type": "audio/ogg; codecs=opus", "file_size": file_size,
                "sha256": "72fd8a", "id": MEDIA_ID, "messaging_product": "whatsapp",
            })  # fmt: skip
        if download is not None:
            return download(request)
        return httpx.Response(200, content=OGG, headers={"content-type": "audio/ogg"})

    return handle


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    return block_network(monkeypatch)


# --- downloads that work ----------------------------------------------------------------------


async def test_zapi_voice_note_is_one_plain_get_of_its_url(offline: list[object]) -> None:
    http, sent = recording_client()

    with make_vcr().use_cassette("zapi_media_voice_note.yaml") as cassette:
        got = await fetcher(http).fetch(ZAPI_VOICE, channel="zapi")

    assert got == DownloadedMedia(
        data=OGG, mime_type="audio/ogg; codecs=opus", filename="3A124E122ED13C2EE136.ogg"
    )
    assert cassette.all_played and offline == []
    (request,) = sent
    assert str(request.url) == ZAPI_URL
    assert "authorization" not in request.headers  # Z-API files are public URLs
    await http.aclose()


async def test_meta_voice_note_takes_two_gets_both_with_the_bearer(offline: list[object]) -> None:
    http, sent = recording_client()

    with make_vcr().use_cassette("meta_media_voice_note.yaml") as cassette:
        got = await fetcher(http).fetch(META_VOICE, channel="meta", access_token=TOKEN)

    assert got.data == OGG
    assert got.mime_type == "audio/ogg; codecs=opus"
    assert got.filename == f"{MEDIA_ID}.ogg"  # Whisper picks its decoder by the extension
    assert cassette.all_played and offline == []
    lookup, download = sent
    assert str(lookup.url) == f"https://graph.facebook.com/v21.0/{MEDIA_ID}"
    assert str(download.url) == LOOKASIDE
    assert lookup.headers["authorization"] == f"Bearer {TOKEN}"
    assert download.headers["authorization"] == f"Bearer {TOKEN}"
    await http.aclose()


async def test_meta_prefers_a_fresh_url_from_the_media_id_over_the_webhooks_url() -> None:
    http, sent = mock_client(meta_media())
    media = MediaRef(media_id=MEDIA_ID, url="https://lookaside.fbsbx.com/stale?hash=old")

    got = await fetcher(http).fetch(media, channel="meta", access_token=TOKEN)

    assert got.data == OGG
    assert [str(r.url) for r in sent] == [f"https://graph.facebook.com/v21.0/{MEDIA_ID}", LOOKASIDE]
    await http.aclose()


async def test_a_redirect_between_meta_hosts_keeps_the_bearer() -> None:
    cdn = "https://mmg.whatsapp.net/v/t62/audio.ogg?oh=signed"

    def lookaside(request: httpx.Request) -> httpx.Response:
        if request.url.host == "lookaside.fbsbx.com":
            return httpx.Response(302, headers={"location": cdn})
        return httpx.Response(200, content=OGG, headers={"content-type": "audio/ogg"})

    http, sent = mock_client(meta_media(download=lookaside))

    got = await fetcher(http).fetch(META_VOICE, channel="meta", access_token=TOKEN)

    assert got.data == OGG
    assert [r.url.host for r in sent] == ["graph.facebook.com", "lookaside.fbsbx.com", "mmg.whatsapp.net"]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in sent)
    await http.aclose()


async def test_a_zapi_redirect_within_its_storage_is_followed_without_credentials() -> None:
    def storage(request: httpx.Request) -> httpx.Response:
        if request.url.host == "f004.backblazeb2.com":
            return httpx.Response(307, headers={"location": "https://f005.backblazeb2.com/file/a.ogg"})
        return httpx.Response(200, content=OGG, headers={"content-type": "audio/ogg"})

    http, sent = mock_client(storage)

    got = await fetcher(http).fetch(ZAPI_VOICE, channel="zapi", access_token=TOKEN)

    assert got.data == OGG
    assert [r.url.host for r in sent] == ["f004.backblazeb2.com", "f005.backblazeb2.com"]
    assert not any("authorization" in r.headers for r in sent)
    await http.aclose()


async def test_a_document_keeps_the_name_the_patient_sent() -> None:
    http, _ = mock_client(
        lambda r: httpx.Response(200, content=b"%PDF-1.4", headers={"content-type": "application/pdf"})
    )
    media = MediaRef(url="https://f004.backblazeb2.com/file/x/abc", filename="../../exame.pdf")

    got = await fetcher(http).fetch(media, channel="zapi")

    assert (got.filename, got.mime_type) == ("exame.pdf", "application/pdf")
    await http.aclose()


# --- refused by the limits --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("media", "reason"),
    [
        pytest.param(MediaRef(url=ZAPI_URL, size_bytes=1025), "too_large", id="declared-bytes"),
        pytest.param(MediaRef(url=ZAPI_URL, seconds=61), "too_long", id="declared-seconds"),
        pytest.param(
            MediaRef(media_id=MEDIA_ID, seconds=600, voice=True), "too_long", id="ten-minute-voice-note"
        ),
    ],
)
async def test_media_over_the_declared_limits_is_refused_without_a_download(
    media: MediaRef, reason: str
) -> None:
    http, sent = mock_client(meta_media())

    with pytest.raises(MediaUnavailable) as caught:
        await fetcher(http, max_bytes=1024, max_seconds=60).fetch(
            media, channel="meta" if media.media_id else "zapi", access_token=TOKEN
        )

    assert caught.value.reason == reason and not caught.value.retryable
    assert sent == []
    await http.aclose()


async def test_meta_file_size_over_the_limit_stops_before_the_download() -> None:
    http, sent = mock_client(meta_media(file_size=10 * 1024 * 1024))

    with pytest.raises(MediaUnavailable) as caught:
        await fetcher(http, max_bytes=1024).fetch(META_VOICE, channel="meta", access_token=TOKEN)

    assert caught.value.reason == "too_large"
    assert [r.url.host for r in sent] == ["graph.facebook.com"]
    await http.aclose()


async def test_content_length_over_the_limit_is_refused_before_reading() -> None:
    produced = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal produced
        produced += 1
        yield bytes(2048)

    http, _ = mock_client(lambda r: httpx.Response(200, content=body(), headers={"content-length": "2048"}))

    with pytest.raises(MediaUnavailable) as caught:
        await fetcher(http, max_bytes=1024).fetch(MediaRef(url=ZAPI_URL), channel="zapi")

    assert caught.value.reason == "too_large"
    assert produced == 0
    await http.aclose()


async def test_an_endless_body_is_abandoned_just_past_the_limit() -> None:
    produced = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal produced
        while True:  # no Content-Length, never ends: only the byte cap stops it
            produced += 1
            yield bytes(256)

    http, _ = mock_client(lambda r: httpx.Response(200, content=endless()))

    with pytest.raises(MediaUnavailable) as caught:
        await fetcher(http, max_bytes=1024).fetch(MediaRef(url=ZAPI_URL), channel="zapi")

    assert caught.value.reason == "too_large"
    assert produced <= 1024 // 256 + 1
    await http.aclose()


async def test_a_body_exactly_at_the_limit_is_accepted() -> None:
    http, _ = mock_client(lambda r: httpx.Response(200, content=bytes(1024)))

    got = await fetcher(http, max_bytes=1024).fetch(MediaRef(url=ZAPI_URL), channel="zapi")

    assert len(got.data) == 1024
    await http.aclose()


# --- expired, refused, unreachable ------------------------------------------------------------

HTML_PAGE = "<!DOCTYPE html><html><body>Sorry, this content isn't available</body></html>"


def _download(status: int, **kwargs: object) -> Handler:
    return lambda request: httpx.Response(status, **kwargs)  # type: ignore[arg-type]


def _graph_error(status: int, code: int) -> Handler:
    body = {"error": {"message": "Unsupported get request.", "type": "GraphMethodException",
                      "code": code, "error_subcode": 33, "fbtrace_id": "A1b2"}}  # fmt: skip
    return lambda request: httpx.Response(status, json=body)


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"cannot reach {request.url}", request=request)


@pytest.mark.parametrize(
    ("channel", "handler", "reason", "retryable"),
    [
        pytest.param(
            "meta",
            meta_media(download=_download(200, html=HTML_PAGE)),
            "expired",
            False,
            id="meta-html-page-instead-of-the-file",
        ),
        pytest.param("meta", meta_media(download=_download(404)), "expired", False, id="meta-url-404"),
        pytest.param("meta", _graph_error(400, 100), "expired", False, id="meta-media-id-gone"),
        pytest.param("meta", _graph_error(401, 190), "http_error", False, id="meta-token-expired"),
        pytest.param("meta", meta_media(download=_download(500)), "http_error", True, id="meta-download-500"),
        pytest.param("meta", _download(429), "http_error", True, id="meta-lookup-429"),
        pytest.param(
            "meta", _download(200, json={"id": MEDIA_ID}), "http_error", False, id="meta-lookup-without-url"
        ),
        pytest.param(
            "zapi",
            _download(404, json={"code": "not_found", "status": 404}),
            "expired",
            False,
            id="zapi-file-gone",
        ),
        pytest.param("zapi", _download(410), "expired", False, id="zapi-410"),
        pytest.param("zapi", _download(403), "http_error", False, id="zapi-403"),
        pytest.param(
            "zapi", _download(503, html=HTML_PAGE), "http_error", True, id="zapi-503-html-is-not-expiry"
        ),
        pytest.param("zapi", _unreachable, "network", True, id="zapi-network"),
        pytest.param("meta", _unreachable, "network", True, id="meta-network"),
    ],
)
async def test_failures_say_why(channel: str, handler: Handler, reason: str, retryable: bool) -> None:
    http, _ = mock_client(handler)
    media = META_VOICE if channel == "meta" else ZAPI_VOICE

    with pytest.raises(MediaUnavailable) as caught:
        await fetcher(http).fetch(media, channel=channel, access_token=TOKEN)  # type: ignore[arg-type]

    assert (caught.value.reason, caught.value.retryable) == (reason, retryable)
    said = f"{caught.value} {caught.value!r}"
    assert TOKEN not in said and "hash=" not in said  # no credential, no signed URL
    await http.aclose()


async def test_media_without_a_url_or_id_has_no_source() -> None:
    http, sent = mock_client(meta_media())

    with pytest.raises(MediaUnavailable) as caught:
        await fetcher(http).fetch(MediaRef(voice=True), channel="zapi")

    assert caught.value.reason == "no_source" and sent == []
    await http.aclose()


async def test_meta_media_without_an_access_token_is_a_config_error() -> None:
    http, sent = mock_client(meta_media())

    with pytest.raises(ConfigError):
        await fetcher(http).fetch(META_VOICE, channel="meta", access_token=None)

    assert sent == []
    await http.aclose()


# --- refused: only the allowed hosts, the token only to Meta ------------------------------------


def _refused_without_a_secret(caught: pytest.ExceptionInfo[MediaUnavailable], reason: str) -> None:
    assert caught.value.reason == reason and not caught.value.retryable
    said = f"{caught.value} {caught.value!r}"
    assert TOKEN not in said and "hash=" not in said and "/file/" not in said


@pytest.mark.parametrize(
    "media",
    [
        pytest.param(MediaRef(url=LOOKASIDE), id="meta-looking-url"),
        pytest.param(MediaRef(url="http://127.0.0.1:8080/latest/meta-data/"), id="loopback-url"),
        pytest.param(MediaRef(media_id="../../me/accounts", url=LOOKASIDE), id="id-with-a-path"),
        pytest.param(MediaRef(media_id="1?fields=access_token"), id="id-with-a-query"),
    ],
)
async def test_meta_media_without_a_media_id_is_never_fetched(media: MediaRef) -> None:
    http, sent = mock_client(meta_media())

    with pytest.raises(MediaUnavailable) as caught:
        await fetcher(http).fetch(media, channel="meta", access_token=TOKEN)

    _refused_without_a_secret(caught, "no_source")
    assert sent == []
    await http.aclose()


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/a.ogg",
        "https://fbsbx.com.evil.example/a.ogg",
        "http://lookaside.fbsbx.com/whatsapp_business/attachments/?hash=x",
        "https://lookaside.fbsbx.com:8443/whatsapp_business/attachments/?hash=x",
        "https://127.0.0.1/a.ogg",
        "https://f004.backblazeb2.com/file/a.ogg",
    ],
)
async def test_a_download_url_graph_names_off_meta_hosts_never_gets_the_token(url: str) -> None:
    http, sent = mock_client(
        lambda request: httpx.Response(200, json={"url": url, "mime_type": "audio/ogg", "id": MEDIA_ID})
    )

    with pytest.raises(MediaUnavailable) as caught:
        await fetcher(http).fetch(META_VOICE, channel="meta", access_token=TOKEN)

    _refused_without_a_secret(caught, "refused")
    assert [str(r.url) for r in sent] == [f"https://graph.facebook.com/v21.0/{MEDIA_ID}"]
    await http.aclose()


@pytest.mark.parametrize(
    "location",
    ["https://evil.example/steal", "//evil.example/steal", "http://169.254.169.254/latest/meta-data/",
     "http://lookaside.fbsbx.com/plain"],
)  # fmt: skip
async def test_the_token_does_not_follow_a_redirect_off_meta_hosts(location: str) -> None:
    http, sent = mock_client(meta_media(download=_download(302, headers={"location": location})))

    with pytest.raises(MediaUnavailable) as caught:
        await fetcher(http).fetch(META_VOICE, channel="meta", access_token=TOKEN)

    _refused_without_a_secret(caught, "refused")
    assert [r.url.host for r in sent] == ["graph.facebook.com", "lookaside.fbsbx.com"]
    await http.aclose()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/x.ogg",
        "https://127.0.0.1/x.ogg",
        "https://[::1]/x.ogg",
        "http://f004.backblazeb2.com/file/x.ogg",
        "https://f004.backblazeb2.com:8443/file/x.ogg",
        "https://evil.example/file/x.ogg",
        "https://backblazeb2.com.evil.example/file/x.ogg",
        "https://internal.backblazeb2.com/file/x.ogg",  # one of its addresses is private
        "https://metadata.backblazeb2.com/file/x.ogg",  # IPv4-mapped link-local
        "file:///etc/passwd",
        "not a url",
    ],
)
async def test_zapi_media_off_its_storage_hosts_is_not_requested(url: str) -> None:
    http, sent = mock_client(lambda r: httpx.Response(200, content=OGG))

    with pytest.raises(MediaUnavailable) as caught:
        await fetcher(http).fetch(MediaRef(url=url, voice=True), channel="zapi")

    _refused_without_a_secret(caught, "refused")
    assert sent == []
    await http.aclose()


@pytest.mark.parametrize(
    "location",
    ["http://127.0.0.1:8080/admin", "https://10.0.0.1/x", "https://[::ffff:127.0.0.1]/x",
     "https://internal.backblazeb2.com/file/x.ogg", "https://evil.example/x"],
)  # fmt: skip
async def test_a_zapi_redirect_into_a_private_network_is_not_followed(location: str) -> None:
    http, sent = mock_client(_download(302, headers={"location": location}))

    with pytest.raises(MediaUnavailable) as caught:
        await fetcher(http).fetch(ZAPI_VOICE, channel="zapi")

    _refused_without_a_secret(caught, "refused")
    assert [r.url.host for r in sent] == ["f004.backblazeb2.com"]
    await http.aclose()


async def test_redirects_stop_after_the_hop_limit() -> None:
    http, sent = mock_client(_download(302, headers={"location": "/file/again.ogg"}))  # relative

    with pytest.raises(MediaUnavailable) as caught:
        await fetcher(http, max_redirects=2).fetch(ZAPI_VOICE, channel="zapi")

    assert (caught.value.reason, caught.value.status) == ("http_error", 302)
    assert [str(r.url) for r in sent][1:] == ["https://f004.backblazeb2.com/file/again.ogg"] * 2
    await http.aclose()


async def test_a_storage_name_that_does_not_resolve_is_a_network_failure() -> None:
    http, sent = mock_client(lambda r: httpx.Response(200, content=OGG))

    with pytest.raises(MediaUnavailable) as caught:
        await fetcher(http).fetch(MediaRef(url="https://f001.backblazeb2.com/file/x.ogg"), channel="zapi")

    assert (caught.value.reason, caught.value.retryable, caught.value.host) == (
        "network", True, "f001.backblazeb2.com")
    assert sent == []
    await http.aclose()


async def test_an_allowed_name_is_checked_against_what_it_really_resolves_to() -> None:
    http, sent = mock_client(lambda r: httpx.Response(200, content=OGG))
    real_dns = MediaFetcher(http, meta_hosts=META_HOSTS, zapi_hosts=["localhost"])  # the loop's resolver

    with pytest.raises(MediaUnavailable) as caught:
        await real_dns.fetch(MediaRef(url="https://localhost/x.ogg"), channel="zapi")

    assert (caught.value.reason, caught.value.host) == ("refused", "localhost")
    assert sent == []
    await http.aclose()


async def test_an_exact_origin_entry_lets_a_local_stand_in_serve_media() -> None:
    http, sent = mock_client(lambda r: httpx.Response(200, content=OGG))
    stand_in = fetcher(http, zapi_hosts=["http://127.0.0.1:8081"])

    got = await stand_in.fetch(MediaRef(url="http://127.0.0.1:8081/file/x.ogg"), channel="zapi")

    assert got.data == OGG
    for other in ("http://127.0.0.1:8082/x.ogg", "https://127.0.0.1:8081/x.ogg", "http://localhost:8081/x"):
        with pytest.raises(MediaUnavailable) as caught:
            await stand_in.fetch(MediaRef(url=other), channel="zapi")
        assert caught.value.reason == "refused"
    assert len(sent) == 1
    await http.aclose()


@pytest.mark.parametrize(
    "entries",
    [["*"], ["*.com"], ["ftp://files.example"], ["https://files.example/path"],
     ["https://user@files.example"], [""], ["files.example/x"], []],
)  # fmt: skip
async def test_an_allowlist_entry_that_could_match_too_much_is_a_config_error(entries: list[str]) -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ConfigError, match="zapi_media_hosts"):
            fetcher(http, zapi_hosts=entries)
