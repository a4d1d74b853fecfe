"""Personal data in what callers said, found and reduced before anything is stored or logged.

One redactor for every text the records keep (what was heard, slot values, prompts that
read values back, summaries, context): payment card numbers (13-19 digits passing the Luhn
check), phone numbers, e-mail addresses (written, or spoken: "john at example dot com"),
social-security and national-id shapes, and any other run of five or more digits become
typed placeholders: [card], [phone], [email], [id], [number]. Digits count however they
were said or written: figures, digit words ("four one one one"), "double"/"triple", "oh",
tens and teens ("forty one"), with spaces, dashes, dots or hesitations between them.
Shorter numbers (an order number, "press 2", "5 minutes") are left alone.

A flow says per slot how its value may be kept (`store:` on a collect node):

- `clear`: as said (the designer decided an agent needs it, e.g. an order number);
- `masked`: the last 4 digits only ("****1111"; a value under 8 digits keeps its last half);
- `hashed`: the keyed hash only ("[hash:1f2e...]"): equal values can be matched, not read;
- `none`: not kept ("[withheld]");
- `redacted` (the default): the text with the placeholders above.

Known values (the call's slots) are looked for in every text first: a `clear` value is
protected from the placeholders, any other value gets its slot's form wherever it occurs
(so "I heard 4 5 1 2" keeps the slot's choice too). Only the stored and logged copies are
reduced; the call itself works with what was said.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from voicebot.flow.normalize import DIGIT_NAMES, normalize

STORE_CHOICES = ("clear", "masked", "hashed", "none", "redacted")
DEFAULT_CHOICE = "redacted"
WITHHELD = "[withheld]"
MIN_RUN = 5  # digits in a row that are a number worth hiding in free speech
KEEP = None  # a known value's form that means: leave the text as it was said
UNDECIDED = "\x00"  # what a run_form returns for a run it leaves to the usual rules

_TEENS = {w: str(i) for i, w in enumerate(
    ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
     "eighteen", "nineteen"], start=10)}
_TENS = {w: str(i) for i, w in enumerate(
    ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"], start=2)}
_SCALES = {"hundred": "00", "thousand": "000"}
_REPEAT = {"double": 2, "triple": 3}
_FILLERS = frozenset({"uh", "um", "er", "erm", "hmm", "ah", "and"})  # inside a number
_JOINERS = frozenset("-.,()/")

_FIGURES = re.compile(r"[\d\s+\-().]+")
_TOKEN = re.compile(r"\+?\d+|[A-Za-z]+|\S")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# An e-mail address as recognisers write it once punctuation is gone: "john dot smith at
# example dot com", "jane at example org", or with the "@" lost too: "example com".
_LOCAL = (r"(?:\b(?:[a-z0-9]\s+){1,30}[a-z0-9]"  # spelled: "j o h n"
          r"|[\w.+-]+(?:\s+(?:dot|underscore|dash|hyphen)\s+[\w+-]+)*)")
_TLD = (r"(?:(?:\s*(?:\.|\bdot\b)\s*|\s+)"
        r"(?:com|org|net|edu|gov|io|co|uk|de|fr|info|biz|us|ca|au)\b)+")
_NOT_A_NAME = r"(?!(?:the|a|an|my|your|our|this|that|dot|at|is|in|on|of|to|it)\b)"
_SPOKEN_EMAIL = re.compile(
    _LOCAL + r"\s+at(?:\s+sign)?\s+" + _NOT_A_NAME
    + r"[\w-]+(?:(?:\s*(?:\.|\bdot\b)\s*|\s+)(?!at\b)[\w-]+){0,3}?" + _TLD, re.IGNORECASE)
_BARE_DOMAIN = re.compile(
    r"\b" + _NOT_A_NAME + r"[a-z][\w-]*(?:\s*(?:\.|\bdot\b)\s*|\s+)(?:com|org|net)\b",
    re.IGNORECASE)
_NATIONAL_ID = re.compile(
    r"\b[A-CEGHJ-PR-TW-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b"  # UK national insurance
    r"|\b\d{3}-\d{2}-\d{4}\b",  # US social security, written
    re.IGNORECASE)


@dataclass(frozen=True)
class Run:
    """Digits said or written in a row: where in the text, and which digits."""

    start: int
    end: int
    digits: str
    plus: bool = False  # written with a leading + (an international phone number)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def kind_of(digits: str, plus: bool = False) -> str | None:
    """The placeholder kind of a digit run in free speech, or None to leave it."""
    n = len(digits)
    if 13 <= n <= 19 and luhn_ok(digits):
        return "card"
    if (plus and 8 <= n <= 15) or n in (7, 10) or (n == 11 and digits[0] in "01"):
        return "phone"
    if n == 9:
        return "id"
    return "number" if n >= MIN_RUN else None


def _piece(word: str, following: str) -> tuple[str | None, int]:
    """(the digits `word` stands for, how many words it takes), or (None, 1)."""
    w = word.lower()
    if w.lstrip("+").isdigit():
        return w.lstrip("+"), 1
    if w in DIGIT_NAMES:
        return DIGIT_NAMES[w], 1
    if w in _TEENS:
        return _TEENS[w], 1
    if w in _TENS:
        unit = DIGIT_NAMES.get(following.lower())
        return (_TENS[w] + unit, 2) if unit not in (None, "0") else (_TENS[w] + "0", 1)
    if w in _REPEAT:
        unit = DIGIT_NAMES.get(following.lower()) or (following if following.isdigit()
                                                       and len(following) == 1 else None)
        return (unit * _REPEAT[w], 2) if unit else (None, 1)
    return None, 1


def digit_runs(text: str) -> Iterator[Run]:
    """Every run of digits in `text`, however spoken or written (see the module doc)."""
    tokens = list(_TOKEN.finditer(text))
    i, start, end, digits, spoken, plus = 0, -1, -1, "", [], False

    def close() -> Iterator[Run]:
        if digits and spoken not in (["oh"], ["o"]):
            yield Run(start, end, digits, plus)

    while i < len(tokens):
        word = tokens[i].group()
        following = tokens[i + 1].group() if i + 1 < len(tokens) else ""
        piece, used = _piece(word, following)
        if piece is None and word.lower() in _SCALES and digits:
            piece = _SCALES[word.lower()]
        if piece is not None:
            if not digits:
                start, plus = tokens[i].start(), word.startswith("+")
            digits += piece
            spoken.append(word.lower())
            end = tokens[i + used - 1].end()
            i += used
            continue
        if digits and (word in _JOINERS or word.lower() in _FILLERS):
            i += 1
            continue
        yield from close()
        digits, spoken = "", []
        i += 1
    yield from close()


def digits_of(value: object) -> str:
    """All the digits of a value, however they were said ("four 5 1 two" -> "4512")."""
    return "".join(run.digits for run in digit_runs(str(value)))


def mask(value: object) -> str:
    """The last 4 digits (the last half of a value under 8 digits), the rest starred."""
    digits = digits_of(value)
    if not digits:
        return "[masked]"
    keep = 4 if len(digits) >= 8 else len(digits) // 2
    return "****" + (digits[-keep:] if keep else "")


def stored_form(value: object, choice: str, hasher: Callable[[str], str]) -> str | None:
    """How a slot's value is kept under `choice` (KEEP: as it is)."""
    if choice == "clear":
        return KEEP
    if choice == "masked":
        return mask(value)
    if choice == "hashed":
        text = str(value)
        number = _FIGURES.fullmatch(text) and digits_of(text)
        return f"[hash:{hasher(number or normalize(text))[:16]}]"
    if choice == "none":
        return WITHHELD
    return redact(str(value))


@dataclass(frozen=True)
class KnownValues:
    """The call's slot values and the form each is kept in, looked for in every text."""

    by_digits: Mapping[str, str | None]  # a value's digits -> its form (KEEP: protect)
    by_text: Mapping[str, str | None]  # a text value (normalised) -> its form

    @classmethod
    def empty(cls) -> KnownValues:
        return cls({}, {})


def redact(text: str, known: KnownValues | None = None, *,
           run_form: Callable[[Run], str | None] | None = None) -> str:
    """`text` with personal data replaced (see the module doc). `run_form` decides a digit
    run first (a collect node's own choice for what is said there), or says UNDECIDED."""
    if not text:
        return text
    known = known or KnownValues.empty()
    protected: list[tuple[int, int, str | None]] = []  # (start, end, replacement or KEEP)
    for value, form in known.by_text.items():
        for m in re.finditer(re.escape(value), text, re.IGNORECASE):
            protected.append((m.start(), m.end(), form))
    for pattern, kind in ((_EMAIL, "email"), (_SPOKEN_EMAIL, "email"), (_BARE_DOMAIN, "email"),
                          (_NATIONAL_ID, "id")):
        for m in pattern.finditer(text):
            protected.append((m.start(), m.end(), f"[{kind}]"))
    for run in digit_runs(text):
        form: str | None
        if run_form is not None and (decided := run_form(run)) != UNDECIDED:
            form = decided
        elif run.digits in known.by_digits:
            form = known.by_digits[run.digits]
        else:
            kind = kind_of(run.digits, run.plus)
            if kind is None:
                continue
            form = f"[{kind}]"
        protected.append((run.start, run.end, form))
    return _apply(text, protected)


def _apply(text: str, spans: list[tuple[int, int, str | None]]) -> str:
    """Replace the spans (the first one found wins where they overlap)."""
    out, at = [], 0
    for start, end, form in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
        if start < at:
            continue
        out.append(text[at:start])
        out.append(text[start:end] if form is KEEP else form)
        at = end
    out.append(text[at:])
    return "".join(out)


SPOKEN_PLACEHOLDERS = {"[card]": "a card number", "[phone]": "a phone number",
                       "[email]": "an e-mail address", "[id]": "an ID number",
                       "[number]": "a number", WITHHELD: "something not kept",
                       "[masked]": "something not kept"}
_MASKED = re.compile(r"\*{4}(\d*)")
_HASHED = re.compile(r"\[hash:[0-9a-f]+\]")


def speakable(text: str) -> str:
    """A stored text as a person can hear it (the agent's whisper): placeholders in words."""
    for placeholder, words in SPOKEN_PLACEHOLDERS.items():
        text = text.replace(placeholder, words)
    text = _MASKED.sub(lambda m: f"a number ending {' '.join(m.group(1))}"
                       if m.group(1) else "a number", text)
    return _HASHED.sub("a value kept only as a hash", text)
