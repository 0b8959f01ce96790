"""The one exception hierarchy of atende.

    AtendeError              root: everything atende raises on purpose
    ├── ConfigError          a setting or a tenant file is wrong (names file and field)
    ├── InvalidInput         a caller sent something unusable (a phone number, a CLI value)
    ├── DomainError          a request the model or patient can fix; becomes a tool message
    │   ├── SlotUnavailable  the slot is taken, outside hours, or was never offered
    │   ├── NotFound         unknown service, professional or appointment (or not theirs)
    │   └── PolicyViolation  too late to cancel, too far ahead to book, ...
    └── InfrastructureError  a database, model or provider failed; handled at the turn boundary
        ├── ModelUnavailable     the chat model failed after its retries
        └── TranscriptionFailed  a voice note could not be transcribed

`code` is a stable machine-readable identifier (HTTP error bodies, tool results, logs);
`str(error)` is a pt-BR sentence safe to show a patient where the error is a DomainError; its
`hint`, when set, tells the model how to ask again (the arguments to send instead).
"""

from __future__ import annotations


class AtendeError(Exception):
    code = "atende_error"


class ConfigError(AtendeError):
    code = "config_error"

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.source = source
        self.field = field
        where = ": ".join(part for part in (source, field) if part)
        super().__init__(f"{where}: {message}" if where else message)


class InvalidInput(AtendeError):
    code = "invalid_input"


class DomainError(AtendeError):
    code = "domain_error"

    def __init__(self, message: str, *, hint: str | None = None):
        self.hint = hint
        super().__init__(message)


class SlotUnavailable(DomainError):
    code = "slot_unavailable"


class NotFound(DomainError):
    code = "not_found"


class PolicyViolation(DomainError):
    code = "policy_violation"


class InfrastructureError(AtendeError):
    code = "infrastructure_error"


class ModelUnavailable(InfrastructureError):
    code = "model_unavailable"


class TranscriptionFailed(InfrastructureError):
    code = "transcription_failed"
