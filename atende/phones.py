"""Phone numbers in E.164, with Brazil's mobile 9th digit restored (WhatsApp still sends some
mobiles in the old 8-digit form, and both forms must reach the same patient)."""

from __future__ import annotations

import phonenumbers

from atende.errors import InvalidInput


def normalize_phone(raw: str, default_region: str = "BR") -> str:
    """`raw` as E.164 (`+5511987654321`); `InvalidInput` if it is not a possible number."""
    text = raw.strip()
    if text.isdigit() and len(text) > 11:
        text = "+" + text  # providers send "5511987654321" without the plus
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"not a phone number: {raw!r}") from None
    national = str(number.national_number)
    # Brazilian mobiles: DDD + 8 digits starting 6-9 is the pre-2016 form of DDD + 9 + 8 digits.
    if number.country_code == 55 and len(national) == 10 and national[2] in "6789":
        number = phonenumbers.parse(f"+55{national[:2]}9{national[2:]}")
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"not a valid phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
