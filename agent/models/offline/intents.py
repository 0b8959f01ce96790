"""pt-BR reading of a patient message for the offline model: intents, names, choices (the day
and time words are read in `dates`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from atende.agent.models.offline.dates import extract_when, folded_with_map
from atende.agent.write_guard import MOVING_WORDS, moving
from atende.tenant import Professional, Service, Tenant, fold
from atende.tools.booking import holiday_terms
from atende.tools.catalog import find_professional, find_service
from atende.tools.dates import parse_when
from atende.tools.notes import from_notes

# "[áudio] quero marcar", "[áudio transcrito]: ..." — the transcribe node's prefix.
_AUDIO_MARKER = re.compile(r"^[ \t]*\[\s*(?:[áa]udio|voz|transcri)[^\]]*\][ \t]*:?[ \t]*",
                           re.IGNORECASE | re.MULTILINE)


def _rx(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b")


# Every pattern runs on `words()`: folded (no accents, lower case), punctuation as spaces.
INTENT_PATTERNS: dict[str, re.Pattern[str]] = {
    "reschedule": MOVING_WORDS,
    "cancel": _rx(r"cancel\w*", r"desmarca\w*",
                  r"nao (?:vou|posso|vou poder|consigo|vou conseguir) (?:mais )?(?:ir|comparecer)"),
    "my_appointments": _rx(r"minhas? consultas?", r"meus? (?:agendamentos?|horarios?)",
                           r"tenho (?:alguma |uma )?(?:consulta|horario|agendamento)",
                           r"quando e (?:a )?minha", r"(?:estou|to|ja estou) marcad[oa]",
                           r"ja (?:marquei|agendei)", r"qual (?:e )?(?:o )?meu horario",
                           r"(?:consultas?|horarios?|agendamentos?|sessoes|aulas) (?:que )?(?:eu )?"
                           r"(?:tenho|ja tenho) (?:marcad|agendad)\w*"),
    "hours": _rx(r"horarios? (?:de funcionamento|de atendimento|de voces|da clinica)",
                 r"que horas? (?:voces )?(?:abre|abrem|fecha|fecham|funciona)",
                 r"ate que horas?", r"(?:abre|abrem|fecha|fecham|funciona|funcionam|atende|atendem)"
                 r" (?:aos|no|na|de|que|sabado|domingo|feriado)", r"abert[oa]s?"),
    "book": _rx("marcar", "marca", "agendar", "agenda", r"agendamento", r"horarios?", r"vagas?",
                "disponibilidade", r"disponive(?:l|is)", "encaixe", "consulta",
                r"(?:quero|queria|gostaria de|preciso) fazer", r"tem (?:hora|horario)"),
    "want": re.compile(r"\b(?:quero|queria|gostaria(?: de)?|preciso(?: de)?|desejo)\b"
                       r"(?! (?:saber|perguntar|uma informacao|informac))"),
    "promotions": _rx(r"promo\w*", r"descontos?", r"ofertas?", "cupom", "black friday"),
    "prices": _rx(r"quanto custa\w*", r"quanto (?:e|fica|sai|cobra\w*|esta|ta)", r"precos?",
                  r"(?:e|fica|sai|custa|esta) quanto",
                  r"valor(?:es)?",
                  "custa", "custo", "tabela"),
    "services": _rx(r"quais (?:sao )?(?:os )?(?:servicos|tratamentos|procedimentos)",
                    r"servicos", r"procedimentos", r"tratamentos", r"o que voces fazem"),
    "address": _rx(r"onde (?:fica|e|ficam|voces ficam)", r"endereco", r"localizacao",
                   r"como (?:chego|chegar)", r"fica onde", "mapa"),
    "phone": _rx("telefone", "fone", r"numero (?:de|da|do) (?:voces|clinica|contato)", "contato",
                 "ligar"),
    "payment": _rx("pix", r"cartao", r"credito", r"debito", "dinheiro", "boleto", r"parcel\w*",
                   r"formas? de pagamento", "pagamento", "pagar"),
    "insurance": _rx(r"convenios?", r"planos?(?: de saude| odontologico)?"),
    "thanks": _rx(r"obrigad[oa]s?", "obg", r"brigad[oa]", "valeu", r"agradec\w*", r"grat[oa]"),
    "bye": _rx("tchau", r"ate (?:mais|logo|breve|amanha)", "falou", "flw"),
    "greeting": _rx(r"oi+e?", "ola", "opa", "e ai", "bom dia", "boa tarde", "boa noite", "hey",
                    "hello", r"tudo (?:bem|bom|certo)", "como vai"),
    # what goes to a person, whatever else the message asks (see `CARE`)
    "urgent": _rx(r"urgen\w*", r"emergen\w*", r"(?<!pronto )socorro",
                  r"(?:muita|muito|forte|intensa) dor(?:es)?",
                  r"dor(?:es)? (?:de dente |no dente |na boca |de cabeca )?(?:muito )?"
                  r"(?:forte|fortes|insuportave\w*|intensa|terrive\w*|horrive\w*)",
                  r"doendo (?:muito|demais|bastante)", r"sangrando", r"sangramento", r"sangrou",
                  r"muito sangue", r"inchad[oa]s?", r"inchaco", r"inchou", "febre", "pus",
                  r"abscesso"),
    "clinical": _rx(r"posso (?:tomar|comer|beber|escovar|fumar|bochechar|malhar|nadar|"
                    r"fazer exercicio\w*|ir trabalhar)", r"remedios?", r"medicamentos?",
                    r"medicac\w*", r"antibiotico\w*", r"analgesico\w*", r"anti ?inflamatorio\w*",
                    "ibuprofeno", "dipirona", "paracetamol", "amoxicilina", "nimesulida",
                    "novalgina", "dorflex",
                    r"(?:e|eh) normal (?:\w+ ){0,4}?(?:sangr\w*|doer|doi\w*|doendo|dor|inch\w*|"
                    r"sensib\w*|sensive\w*|latej\w*|mole|amolec\w*|ferida|afta|febre|gosto|cheiro)"),
    "complaint": _rx(r"reclama\w*", r"queixa\w*", r"insatisfeit\w*", r"decepcionad\w*",
                     r"mal atendid\w*", "descaso", "falta de respeito", r"desrespeit\w*",
                     "absurdo", "procon",
                     # rudeness is a complaint too: an apology and a person, not "não entendi"
                     "lixo", "merda", "porra", "bosta", r"palhacada\w*", r"ridicul\w*",
                     r"incompetent\w*", r"ninguem (?:responde|atende|me responde)",
                     r"(?:q|que) demora (?:hein|heim|viu|pra responder)",
                     r"pessim[oa] (?:atendimento|servico|experiencia|clinica|profissional|dentista)",
                     r"(?:atendimento|servico|experiencia) (?:muito )?"
                     r"(?:ruim|horrivel|terrivel|pessimo)"),
}
# Proactive messages: a patient who wants none, and one who wants to hear of a freed slot.
# "parar" alone is the stop word; inside a sentence "para" is a preposition ("para o dia 10")
INTENT_PATTERNS["stop"] = re.compile(
    r"^(?:parar|pare|para|stop|sair)(?: (?:por favor|pf|pfv|obrigad[oa]))?$"
    r"|\b(?:para|pare|parem) de (?:me )?(?:mandar|enviar)\b|\bnao quero (?:mais )?receber\b"
    r"|\b(?:sair|remover?|me tire) da lista\b|\bnao (?:me )?(?:mande|mandem|envie|enviem) mais\b"
    r"|\bdescadastr\w*")
INTENT_PATTERNS["waitlist"] = _rx(r"lista de espera",
                                  r"(?:me )?avis\w* (?:se|quando) (?:vagar|abrir|surgir|liberar)",
                                  r"se (?:vagar|abrir|surgir|liberar) (?:algum|um|uma)? ?"
                                  r"(?:horario|vaga)",
                                  # "a vaga mais cedo" is the soonest one, not an earlier one
                                  r"(?<!\ba )(?<!\bo )(?:horario|vaga) (?:mais cedo|antes)",
                                  r"tem (?:algo|alguma coisa|horario) antes")

# Other people's data: their names, phones and appointments, or acting for another phone.
# Identity comes from the turn, so the answer is a refusal with its reason, whatever else the
# message asks.
INTENT_PATTERNS["others_data"] = _rx(
    r"(?:os|dos|das|outros|demais|seus|todos os) pacientes",
    r"(?:lista|listagem|relacao|cadastro|nomes|telefones|dados|agenda) (?:de|dos|das) pacientes",
    r"quem (?:esta|ta|tem|vai|estao) (?:marcad\w*|agendad\w*|consulta|horario)",
    r"(?:nomes?|telefones?|dados|contatos?) (?:e (?:o |os )?telefones? )?de quem",
    r"(?:para|pra|pro|no|do) (?:o )?(?:telefone|numero|celular|whatsapp|zap) \d{8,}",
)

# Answers to a reminder ("Responda 1 para confirmar, 2 para remarcar ou 0 para cancelar"),
# matched on the whole short message so "1" inside a sentence is not taken for one.
_REMINDER_ANSWERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("confirm", re.compile(r"^(?:1|um|sim|s|confirm\w*|pode confirmar|ok|okay|ok vou|vou sim|vou|"
                           r"estarei (?:ai|la)|estarei|sim vou|sim confirmo|confirmado|certo|"
                           r"combinado|beleza|blz|positivo)(?: (?:sim|obrigad[oa]|vou|estarei"
                           r"(?: ai| la)?|confirmo|pode confirmar))*$")),
    ("cancel", re.compile(r"^(?:0|zero|cancel\w*|nao vou poder(?: ir)?|nao vou|nao posso(?: ir)?|"
                          r"nao vou conseguir(?: ir)?|pode cancelar|quero cancelar|desmarc\w*)"
                          r"(?: (?:ir|comparecer|mais|infelizmente|por favor|pf|a consulta))*$")),
    ("reschedule", re.compile(r"^(?:2|dois|remarc\w*|reagend\w*|outro dia|outro horario|"
                              r"quero remarcar|pode remarcar|mudar (?:o )?(?:dia|horario))"
                              r"(?: (?:por favor|pf|pra outro dia|para outro dia))*$")),
)
_THUMBS_UP = re.compile(r"^\s*(?:👍|👍🏻|👍🏼|👍🏽|👍🏾|👍🏿|✅|👌)+\s*$")


def reminder_answer(raw: str) -> str | None:
    """"confirm", "cancel" or "reschedule" when a short message answers a reminder (its 1 / 0 /
    2, its buttons' titles, or the usual words), else None."""
    if _THUMBS_UP.match(raw):
        return "confirm"
    w = words(clean_text(raw))
    for answer, pattern in _REMINDER_ANSWERS:
        if pattern.match(w):
            return answer
    return None


# Urgency, a clinical question or a complaint go to the clinic's team, in this order of
# precedence, ahead of any booking words in the same message: intent -> reason for the team.
CARE = {"urgent": "urgência: paciente com dor ou sintoma agudo",
        "clinical": "dúvida clínica (medicação ou sintoma)",
        "complaint": "reclamação do paciente"}
_HORARIO = re.compile(r"\bhorarios?\b")
_YES = re.compile(r"^(?:sim|s|isso|pode|ok|okay|certo|claro|quero|confirm\w*|perfeito|fechado|"
                  r"beleza|blz|correto|exato|aham|uhum|com certeza|por favor|bora|vamos|"
                  r"isso mesmo|pode ser|manda|yes|fechou|feito|combinado|show|otimo|essa|esse|"
                  r"serve|marca|pode marcar|top|joia|massa|dale|demorou)\b")
_NO = re.compile(r"^(?:nao|n|nem|negativo|melhor nao|deixa|deixa pra la|agora nao|nenhum\w*)\b")
_OTHER_OPTIONS = _rx(r"outros? (?:horarios?|dias?|datas?|opcoes?)", r"nenhum\w*", "mais tarde",
                     "mais cedo", r"outra (?:data|opcao)")
_HUMAN_DEFAULT = ("atendente", "humano", "pessoa real", "falar com alguem", "falar com uma pessoa",
                  "recepcionista")

# -- names ------------------------------------------------------------------------------------

_NAME_CUE = re.compile(
    r"\b(?:meu nome (?:é|e)|me chamo|(?:aqui (?:é|e)|sou) (?:o |a )"
    r"|(?:aqui (?:é|e)|(?<!eu )sou) (?=(?-i:[A-ZÀ-Ý])))"  # "sou casada" is not a name
    r"\s*([A-Za-zÀ-ÿ']+(?:\s+[A-Za-zÀ-ÿ']+){0,3})",
    re.IGNORECASE,
)
_NAME_STOP = {
    "e", "quero", "queria", "gostaria", "tudo", "preciso", "tenho", "to", "estou", "vou", "bom",
    "boa", "oi", "ola", "com", "pra", "para", "que", "meu", "minha", "aqui",
    "sou", "tambem", "ja", "nao", "sim", "da", "do", "de", "dos", "das", "na", "no", "em",
}
_NOT_NAMES = {"administrador", "admin", "gerente", "sistema", "dono", "dona", "suporte",
              "desenvolvedor", "medico", "medica", "doutor", "doutora", "dentista",
              "paciente", "cliente", "eu", "mae", "pai", "filho", "filha", "responsavel", "nova",
              "novo", "ela", "ele", "dela", "dele", "esposa", "marido", "clinica"}
_PARTICLES = {"da", "de", "do", "dos", "das"}


def extract_name(text: str) -> tuple[str, tuple[int, int]] | None:
    """The name in "meu nome é Maria", "aqui é a Maria", "sou o João Pedro", and the span of
    the words that introduced it (to read the rest of the message without them)."""
    match = _NAME_CUE.search(text)
    if not match:
        return None
    kept: list[re.Match[str]] = []
    for token in re.finditer(r"[^\s]+", match.group(1)):
        folded = fold(token.group(0))
        if folded in _NAME_STOP and not (kept and folded in _PARTICLES):
            break
        kept.append(token)
    while kept and fold(kept[-1].group(0)) in _PARTICLES:
        kept.pop()
    if not kept or fold(kept[0].group(0)) in _NOT_NAMES or len(kept[0].group(0)) < 2:
        return None
    name = " ".join(w.lower() if fold(w) in _PARTICLES else w[:1].upper() + w[1:]
                    for w in (k.group(0) for k in kept))
    return name, (match.start(), match.start(1) + kept[-1].end())


# "cancela a de quinta e marca uma avaliação sexta": two requests, each with its own day
_THEN = (r"(?:[,;]|\be\b|\bdepois\b|\btambem\b)[\s,]*"
         r"(?:(?:ja|tambem|depois|quero|queria|preciso|gostaria de|pode|por favor)\s+)*")
_BOOK_VERB = r"\b(?:marcar|marca|marque|agendar|agenda|agende)\b"
_CANCEL_VERB = r"\b(?:cancel\w*|desmarc\w*)"
_THEN_BOOK = re.compile(_THEN + _BOOK_VERB)
_THEN_CANCEL = re.compile(_THEN + _CANCEL_VERB)


def split_cancel_and_book(text: str) -> tuple[str, str] | None:
    """The cancel part and the booking part of "cancela a de quinta e marca uma avaliação
    sexta" (either order), or None when the message asks only one thing."""
    folded, where = folded_with_map(text)
    cancel = re.search(_CANCEL_VERB, folded)
    book = re.search(_BOOK_VERB, folded)
    if cancel is None or book is None:
        return None
    if cancel.start() < book.start():
        then = _THEN_BOOK.search(folded, cancel.end())
        if then is None:
            return None
        cut = where[then.start()]
        return text[:cut], text[cut:]
    then = _THEN_CANCEL.search(folded, book.end())
    if then is None:
        return None
    cut = where[then.start()]
    return text[cut:], text[:cut]


# -- choices ----------------------------------------------------------------------------------

_ORDINALS = {"primeir": 1, "segund": 2, "terceir": 3, "quart": 4, "quint": 5, "sext": 6,
             "setim": 7, "oitav": 8}
_ORDINAL = re.compile(r"\b(?:(a|o) )?(primeir|segund|terceir|quart|quint|sext|setim|oitav|ultim)"
                      r"[oa]\b( ?(?:feira|opcao|horario|vaga|alternativa|data))?")
_NUMBER = re.compile(r"(?:\b(?:opcao|numero|n|no|op)\s*|#|^|\b(?:a|o|quero|prefiro|fico com|vou de|"
                     r"pode ser)\s+)(\d{1,2})(?!\d|\s*[:/]|\s*h(?:s|rs?|oras?)?\b)"
                     # "daqui a 2 semanas", "a 3 meses": a span of time, not option 2 or 3
                     r"(?!\s*(?:minutos?|horas?|dias?|semanas?|mes|meses|anos?)\b)")


def pick_option(text: str, starts: list[datetime], today: date) -> int | None:
    """Which offered option (0-based) the patient chose: "a primeira", "2", "o das 10h"."""
    w = words(text)
    count = len(starts)
    for m in _ORDINAL.finditer(w):
        article, stem, noun = m.group(1), m.group(2), (m.group(3) or "").strip()
        if noun == "feira":
            continue
        unambiguous = stem in ("primeir", "terceir", "ultim", "setim", "oitav")
        if unambiguous or article or noun or w == m.group(0):
            index = count if stem == "ultim" else _ORDINALS[stem]
            if 1 <= index <= count:
                return index - 1
    for m in _NUMBER.finditer(w):
        index = int(m.group(1))
        if 1 <= index <= count:
            return index - 1
    query = parse_when(text, today)
    if query is None or query.at is None:
        return _restated_hour(w, starts)
    for i, start in enumerate(starts):
        if start.time().replace(second=0) != query.at:
            continue
        if query.day_from and query.day_to and not query.day_from <= start.date() <= query.day_to:
            continue
        return i
    return None


# "10 entao", "fechado, 14": a bare number that is no option's number restates an hour
_BARE_HOUR = re.compile(r"(?<![\d:/])\b(\d{1,2})\b(?![\d:/]|\s*(?:minutos?|horas?|dias?|semanas?|"
                        r"mes|meses|anos?|reais|r)\b)")


def _restated_hour(w: str, starts: list[datetime]) -> int | None:
    """The one offered option at the hour a bare number names ("10 entao": the 10:00 one;
    "4" beyond the list's length: 16:00 when nothing is offered at 04:00), or None."""
    numbers = [int(m.group(1)) for m in _BARE_HOUR.finditer(w)]
    if len(numbers) != 1 or numbers[0] <= len(starts) or numbers[0] > 23:
        return None
    hour = numbers[0]
    for wanted in (hour, hour + 12 if 1 <= hour <= 6 else None):
        at = [i for i, s in enumerate(starts) if s.hour == wanted and s.minute == 0]
        if at:
            return at[0]
    return None


# -- the whole message ------------------------------------------------------------------------


def clean_text(text: str) -> str:
    """The message without the audio-transcript marker."""
    return _AUDIO_MARKER.sub("", text).strip()


# How people abbreviate on WhatsApp, spelled out before any pattern reads the message.
_SHORTHAND = {"qro": "quero", "qr": "quero", "qria": "queria", "qnto": "quanto", "qto": "quanto",
              "qnt": "quanto", "qt": "quanto", "vc": "voce", "vcs": "voces", "q": "que",
              "pq": "porque", "pfv": "por favor", "pf": "por favor", "pfvr": "por favor",
              "hj": "hoje", "amn": "amanha", "dps": "depois", "tb": "tambem", "tbm": "tambem",
              "msm": "mesmo", "td": "tudo", "tds": "todos", "mt": "muito", "mto": "muito",
              "c": "com", "p": "pra", "n": "nao", "ngm": "ninguem", "qdo": "quando",
              "qnd": "quando", "vo": "vou", "eh": "e", "ta": "esta", "to": "estou"}


def words(text: str) -> str:
    """Folded, punctuation-free text, single-spaced, shorthand spelled out ("qro" -> "quero"):
    what every pattern here runs on."""
    return " ".join(_SHORTHAND.get(w, w) for w in re.sub(r"[^a-z0-9]+", " ", fold(text)).split())


def _terms(values: list[str]) -> list[str]:
    return [t for t in (words(v) for v in values) if t]


@dataclass(frozen=True)
class Reading:
    """What one patient message says, as far as the offline policy needs to know."""

    text: str
    words: str
    intents: frozenset[str] = field(default_factory=frozenset)
    service: Service | None = None
    professional: Professional | None = None
    when: str | None = None
    name: str | None = None
    yes: bool = False
    no: bool = False
    other_options: bool = False
    plan: str | None = None  # a health plan the patient named ("aceita Amil?")
    question: bool = False  # asked as a question ("?", "tem ...", "vcs fazem ...")
    notes: tuple[str, ...] = ()  # sentences of the clinic's notes that answer it
    unoffered: str | None = None  # "vcs fazem osteopatia?": a service the clinic doesn't list

    def has(self, *intents: str) -> bool:
        return any(i in self.intents for i in intents)


def read(raw: str, tenant: Tenant, today: date) -> Reading:
    """Read one patient message (already joined if several) against `tenant`."""
    text = clean_text(raw)
    found = extract_name(text)
    name = found[0] if found else None
    rest = text
    if found:
        start, end = found[1]
        rest = text[:start] + " " + text[end:]
    w = words(rest)
    intents = {key for key, pattern in INTENT_PATTERNS.items() if pattern.search(w)}
    if moving(rest, today):  # "passa minha limpeza pra sexta" (the write guard reads it too)
        intents.add("reschedule")
    human_terms = _terms([*tenant.handoff.keywords, *_HUMAN_DEFAULT])
    if any(f" {t} " in f" {w} " for t in human_terms):
        intents.add("human")
    if "book" in intents and not INTENT_PATTERNS["book"].search(_HORARIO.sub(" ", w)):
        # "horário" alone next to another question ("endereço e horário?") is opening hours
        if intents & {"address", "payment", "insurance", "prices", "hours"}:
            intents.add("hours")
    if "hours" in intents:
        # "horário de funcionamento" is about the clinic, not a booking
        stripped = _HORARIO.sub(" ", INTENT_PATTERNS["hours"].sub(" ", w))
        if not INTENT_PATTERNS["book"].search(stripped):
            intents.discard("book")
    if "reschedule" in intents or "cancel" in intents or "my_appointments" in intents:
        intents.discard("book")
    plans = sorted({p for s in tenant.services for p in s.insurance}, key=len, reverse=True)
    plan = next((p for p in plans if _plan_named(p, w)), None) or _other_plan(w, tenant, today)
    if plan:
        intents.add("insurance")
    no = bool(_NO.search(w)) and "cancel" not in intents
    question = "?" in rest or bool(_QUESTION.match(w))
    service = find_service(tenant, rest) if w else None
    return Reading(
        text=rest.strip(),
        words=w,
        intents=frozenset(intents),
        service=service,
        professional=find_professional(tenant, rest) if w else None,
        when=extract_when(rest, today, holiday_terms(tenant, today)) if w else None,
        name=name,
        yes=bool(_YES.search(w)) and not no,
        no=no,
        other_options=bool(_OTHER_OPTIONS.search(w)),
        plan=plan,
        question=question,
        notes=tuple(from_notes(tenant, rest)) if question else (),
        unoffered=_unoffered(w, tenant, today) if service is None and not plan else None,
    )


# "vcs tem ...?", "fazem ...", "da pra ...": a question even without its "?"
_QUESTION = re.compile(r"^(?:(?:e )?(?:voces|o senhor|a senhora) )?(?:tem|fazem|faz|realizam|"
                       r"oferecem|trabalham|aceita\w*|atende\w*|precisa|preciso|posso|pode|como|"
                       r"onde|qual|quais|o que|que|da pra|tem como|sera que)\b")
# "vcs fazem osteopatia?", "trabalham com hidroterapia?": asking whether the clinic does X
_DOES = re.compile(r"\b(?:fazem|faz|realizam|realiza|oferecem|oferece|trabalham com|"
                   r"trabalha com|tem servico de)\s+(?:(?:o|a|os|as|um|uma|tratamento de|"
                   r"sessao de|sessoes de|aula de|aulas de)\s+)*([a-z]{4,}(?: [a-z]{4,})?)")
_NOT_A_THING = {"voces", "isso", "algum", "alguma", "agendamento", "marcacao", "aqui", "hoje",
                "amanha", "sabado", "domingo", "feriado", "plano", "planos", "convenio",
                "parcelamento", "desconto", "promocao", "pagamento", "cartao", "consulta",
                "consultas", "atendimento", "quanto", "quantas", "quantos", "como", "onde",
                "quando", "qual", "quais", "muito", "tudo", "coisa"}


def _unoffered(w: str, tenant: Tenant, today: date) -> str | None:
    """The treatment named in "vcs fazem osteopatia?" when it is none of the clinic's services
    or professionals (nor a date or a question word), else None."""
    m = _DOES.search(w)
    if m is None:
        return None
    thing = m.group(1)
    first = thing.split()[0]
    if first in _NOT_A_THING or first in _SHORTHAND or parse_when(thing, today) is not None:
        return None
    if thing.split()[-1] in _NOT_A_THING or thing.split()[-1] in ("ai", "aqui"):
        thing = first
    if find_professional(tenant, thing) is not None:
        return None
    return thing


# "aceita unimed odonto?", "atendem pelo bradesco saude?", "convenio ipe": a plan by name
_PLAN_ASKED = re.compile(
    r"\b(?:aceita\w*|atende\w* (?:pel[oa]|por|com)|convenio(?: (?:d[oa]|com))?|"
    r"plano(?: (?:de saude|odontologico))?(?: (?:d[oa]|com))?)"
    r" ((?!(?:cartao|pix|dinheiro|credito|debito|boleto|convenios?|planos?|voces?|vcs?|"
    r"aceit\w*|atend\w*|de|do|da|que|qual|quais|tem|ai|o|a|os|as|algum|alguma|nenhum|esse|"
    r"isso|pra|para|particular|so|sim|nao|quem|tambem|mais)\b)[a-z]{2,}"
    r"(?: (?!(?:e|pra|para|no|na|de|hoje|amanha|ai|ou)\b)[a-z]{2,}){0,2})")


def _other_plan(w: str, tenant: Tenant, today: date) -> str | None:
    """A health plan the patient names that the clinic does not list ("aceita ipe saude?"),
    as typed, capitalised; None when the words name a payment method, a service or nothing."""
    m = _PLAN_ASKED.search(w)
    if m is None:
        return None
    name = m.group(1)
    if find_service(tenant, name) is not None or find_professional(tenant, name) is not None:
        return None
    if parse_when(name, today) is not None:
        return None
    return " ".join(x if x in ("de", "do", "da") else x.capitalize() for x in name.split())


def _plan_named(plan: str, text: str) -> bool:
    """"Amil Dental" is named by "amil dental" or just its first word "amil"."""
    full = words(plan)
    first = full.split()[0] if full else ""
    padded = f" {text} "
    return bool(full) and (f" {full} " in padded or (len(first) >= 4 and f" {first} " in padded))
