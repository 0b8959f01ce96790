"""The offline model: a deterministic pt-BR policy, its reading of a message and its replies."""

from atende.agent.models.offline.model import OfflineChatModel

__all__ = ["OfflineChatModel"]
