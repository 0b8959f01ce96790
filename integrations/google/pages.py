"""The small pt-BR pages the clinic's browser lands on after Google's consent screen."""

from __future__ import annotations

from html import escape

_PAGE = """<!doctype html>
<html lang="pt-BR"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;
color:#222}}h1{{font-size:1.4rem}}small{{color:#777}}</style></head>
<body><h1>{title}</h1><p>{text}</p>{footer}</body></html>
"""


def connected_page(clinic_name: str) -> str:
    return _PAGE.format(
        title="Google Agenda conectada",
        text=f"As agendas do Google de <strong>{escape(clinic_name)}</strong> estão conectadas "
             "ao atende. Você já pode fechar esta janela e associar cada agenda a um profissional "
             "no painel.", footer="")


def error_page(message: str, request_id: str) -> str:
    return _PAGE.format(title="Não foi possível conectar o Google Agenda", text=escape(message),
                        footer=f"<p><small>Código da solicitação: {escape(request_id)}</small></p>")
