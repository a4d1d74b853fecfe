"""Numbers in what a caller said: a digit string read out inside a sentence ("yeah it's four
five one two", "my order number is 4512", "forty-five twelve"), or a whole number ("two
hundred and six").

Callers read an order number digit by digit or in pairs, often with words around it, and
recognisers write it in words or figures; all of those become the same digit string. A
sentence holding two different numbers is no answer (we would have to guess which one).
"""

from __future__ import annotations

from voicebot.flow.normalize import DIGIT_NAMES, words

# Words that sound like digits: digits only when every word of the utterance is a digit.
HOMOPHONES: dict[str, str] = {"to": "2", "too": "2", "for": "4", "won": "1",
                              "ate": "8", "null": "0"}
_TEENS = {w: str(i) for i, w in enumerate((
    "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen"), start=10)}
_TENS = {"twenty": "2", "thirty": "3", "forty": "4", "fifty": "5", "sixty": "6",
         "seventy": "7", "eighty": "8", "ninety": "9"}
_MULTIPLIERS = {"double": 2, "triple": 3}
# Hesitations that may sit between the digits of one number without ending it.
_HESITATIONS = frozenset({"uh", "um", "er", "erm", "uhm", "hmm", "ah", "mm"})
# Recognisers write a spoken zero as the letter "o" ("three o seven nine"); like "oh", a
# lone one is no number.
_DIGITS_AS_WRITTEN = {**DIGIT_NAMES, "o": "0"}
_UNITS = {w: int(d) for w, d in DIGIT_NAMES.items() if w not in ("oh", "nought")}
_NUMBER_FILLERS = frozenset({"and", "a", "its", "is", "my", "number", "the", "it", "um", "uh",
                             "er", "please", "so", "ok", "okay"})


def _digit_pieces(tokens: list[str], homophones: bool) -> list[str | None]:
    """Each word as the digits it stands for, or None for a word that is not part of a
    number. "forty five" is "45" (the second word then stands for ""), "forty" alone "40",
    "double seven" "77", "forty five hundred" "4500"."""
    table = {**DIGIT_NAMES, **HOMOPHONES} if homophones else _DIGITS_AS_WRITTEN
    out: list[str | None] = []
    repeat = 1
    i = 0
    while i < len(tokens):
        w = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        piece: str | None
        if w in _MULTIPLIERS and (nxt in table or (nxt.isdigit() and len(nxt) == 1)):
            repeat = _MULTIPLIERS[w]
            out.append("")
            i += 1
            continue
        if w.isdigit():
            piece = w * repeat if len(w) == 1 else w
        elif w in table:
            piece = table[w] * repeat
        elif w in _TEENS:
            piece = _TEENS[w]
        elif w in _TENS and _UNITS.get(nxt, 0) > 0:
            out += [_TENS[w] + str(_UNITS[nxt]), ""]
            i += 2
            continue
        elif w in _TENS:
            piece = _TENS[w] + "0"
        elif w == "hundred" and out and out[-1] is not None:
            piece = "00"
        else:
            piece = None
        out.append(piece)
        repeat = 1
        i += 1
    return out


def _runs(tokens: list[str], pieces: list[str | None]) -> list[str]:
    """The digit strings of the utterance: consecutive number words, hesitations allowed
    between them. A lone "oh" is an exclamation, not a zero."""
    runs: list[str] = []
    current: list[str] = []
    spoken: list[str] = []

    def close() -> None:
        if current and not (spoken == ["oh"] or spoken == ["o"]):
            runs.append("".join(current))
        current.clear()
        spoken.clear()

    for w, piece in zip(tokens, pieces, strict=True):
        if piece is None:
            if w in _HESITATIONS and current:
                continue
            close()
        else:
            current.append(piece)
            if piece:
                spoken.append(w)
    close()
    return [r for r in runs if r]


def spoken_digits(text: str) -> str | None:
    """The one digit string the caller spoke or typed, with or without words around it
    ("four five one two", "4 5 1 2", "it's 4512", "double seven", "forty-five twelve"), or
    None when there is none or more than one."""
    tokens = words(text)
    if not tokens:
        return None
    only_digits = all(w in DIGIT_NAMES or w in HOMOPHONES or w.isdigit() or w in _MULTIPLIERS
                      or w in _HESITATIONS for w in tokens)
    runs = _runs(tokens, _digit_pieces(tokens, homophones=only_digits))
    distinct = set(runs)
    return runs[0] if len(distinct) == 1 else None


def spoken_number(text: str) -> int | None:
    """A whole number said in words or figures ("twenty five", "two hundred and six", "42")."""
    tokens = [w for w in words(text) if w not in ("and", "a")]
    if not tokens:
        return None
    if len(tokens) == 1 and tokens[0].isdigit():
        return int(tokens[0])
    if len(tokens) > 1 and all(w in DIGIT_NAMES for w in tokens):
        digits = spoken_digits(text)  # "one two" is twelve, said digit by digit
        return int(digits) if digits else None
    teens = {w: int(d) for w, d in _TEENS.items()}
    tens = {w: int(d) * 10 for w, d in _TENS.items()}
    total, current, seen = 0, 0, False
    for w in tokens:
        if w.isdigit():
            current += int(w)
        elif w in _UNITS:
            current += _UNITS[w]
        elif w in teens:
            current += teens[w]
        elif w in tens:
            current += tens[w]
        elif w == "hundred":
            current = max(current, 1) * 100
        elif w == "thousand":
            total += max(current, 1) * 1000
            current = 0
        elif w in _NUMBER_FILLERS:
            continue
        else:
            digits = spoken_digits(text)
            return int(digits) if digits else None
        seen = True
    return total + current if seen else None
