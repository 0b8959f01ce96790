"""Process settings: one pydantic-settings class, read once at the edge (CLI, server)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_OPENAI_MODEL = "openai:gpt-4o-mini"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATENDE_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///atende.db",
        description="sqlite:///path/to/file.db (default) or postgresql://... (Supabase)",
    )
    tenants_dir: Path = Path("tenants")
    model: str | None = Field(
        default=None, description="offline | scripted:<file> | openai:<model>; see default_model"
    )
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "ATENDE_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "ATENDE_OPENAI_BASE_URL")
    )
    transcription_model: str = "whisper-1"
    model_max_retries: int = Field(default=2, ge=0, le=10)
    model_timeout_seconds: float = Field(default=30.0, gt=0)
    log_level: str = "INFO"
    log_json: bool = Field(default=True, description="JSON logs from `atende serve`")
    zapi_base_url: str = "https://api.z-api.io"
    meta_graph_url: str = "https://graph.facebook.com"
    meta_api_version: str = "v21.0"
    admin_token: SecretStr | None = Field(
        default=None, description="bearer token for the /admin endpoints (unset: admin disabled)"
    )
    # Webhook bodies, on the wire and inflated: Meta batches reach ~3 MB; a Z-API callback is one
    # message (a 4,096-character text is ~50 KB even fully \u-escaped)
    meta_webhook_max_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    zapi_webhook_max_bytes: int = Field(default=1024 * 1024, gt=0)
    calendly_webhook_max_bytes: int = Field(default=256 * 1024, gt=0)
    media_max_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    media_max_seconds: int = Field(default=300, gt=0, description="longest voice note transcribed")
    meta_media_hosts: list[str] = Field(
        default=["*.fbsbx.com", "*.facebook.com", "*.fbcdn.net", "*.whatsapp.net"],
        description="where the Meta token may follow a media download Graph named (JSON list): "
        "`host` or `*.domain` over https to public addresses, or an exact origin such as "
        "http://127.0.0.1:8081 trusted as given (a local stand-in)",
    )
    zapi_media_hosts: list[str] = Field(
        default=["*.backblazeb2.com"],  # Z-API's file storage (f004.backblazeb2.com in traffic)
        description="hosts Z-API media and its redirects may be downloaded from (JSON list, "
        "entries as in meta_media_hosts); never with credentials",
    )
    # Postgres connections per process (each pool opens on demand, up to its size): a deployment
    # with N `atende worker`s and the server holds at most (N + 1) x the sum, plus one LISTEN each
    postgres_pool_size: int = Field(default=10, ge=1, le=100,
                                    description="the store's connection pool, per process")
    postgres_checkpoint_pool_size: int = Field(
        default=10, ge=1, le=100, description="the LangGraph checkpointer's pool, per process")
    postgres_queue_pool_size: int = Field(
        default=4, ge=1, le=100, description="procrastinate's pool, per process")
    send_max_attempts: int = Field(default=6, ge=1, le=20)
    clock_file: str | None = Field(
        default=None, description="tests only: read 'now' from this file (see clock.FileClock)")
    reminders_tick_seconds: float = Field(
        default=15.0, gt=0, le=3600,
        description="SQLite: how often `atende serve` hands due reminders to the outbox")
    config_poll_seconds: float = Field(
        default=2.0, gt=0, le=300,
        description="how often each process looks for a new clinic configuration version")
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30,
                                 description="how long a staff login session lasts")
    cookie_secure: bool = Field(default=True, description="the session cookie only over HTTPS "
                                "(off only for local http development)")
    google_api_url: str = "https://www.googleapis.com/calendar/v3"
    google_calendar_webhook_url: str | None = Field(
        default=None, description="public https URL of POST /webhooks/google/calendar that push "
        "channels deliver to (unset: no channels; the periodic sync alone keeps calendars fresh)")
    google_sync_every_seconds: float = Field(
        default=300.0, gt=0, le=24 * 3600,
        description="the backstop: every calendar synced incrementally this often (push "
                    "notifications are not guaranteed); channels renewed on the same tick")
    google_jobs_every_seconds: float = Field(
        default=10.0, gt=0, le=3600,
        description="how often pending calendar writes (events of bookings) are retried")
    pseudonym_key: SecretStr | None = Field(
        default=None, description="HMAC key of the phone pseudonyms in exported transcripts "
        "(unset: a random key per export)",
    )

    # Google per clinic (integrations/google/): one OAuth client for the deployment; each
    # clinic connects its own account. The endpoints are settings so tests point at a fake.
    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None
    google_redirect_uri: str | None = Field(
        default=None, description="the callback Google redirects to, exactly as registered: "
        "https://<host>/api/google/oauth/callback")
    google_auth_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_token_url: str = "https://oauth2.googleapis.com/token"
    google_revoke_url: str = "https://oauth2.googleapis.com/revoke"
    google_scopes: list[str] = Field(
        default=["https://www.googleapis.com/auth/calendar"],
        description="what the consent screen asks for (JSON list)")
    google_state_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    google_refresh_ahead_seconds: int = Field(
        default=300, ge=0, le=3000, description="refresh an access token this long before it expires")
    google_refresh_every_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="how often the background loop looks for "
        "connections about to expire")
    token_key: SecretStr | None = Field(
        default=None, description="Fernet key(s) encrypting OAuth tokens at rest, comma-separated "
        "(the first encrypts; the others still decrypt, for rotation); the OAuth `state` is "
        "signed with a key derived from the first. Required when a clinic uses "
        "calendar.backend: google")

    @property
    def has_openai_key(self) -> bool:
        return bool(self.openai_api_key and self.openai_api_key.get_secret_value().strip())

    def default_model(self) -> str:
        """ATENDE_MODEL if set; else OpenAI when a key is present, else the offline policy."""
        if self.model:
            return self.model
        return DEFAULT_OPENAI_MODEL if self.has_openai_key else "offline"
