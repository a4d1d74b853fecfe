"""Turning what the caller said (or typed in `voicebot chat`) into intents, digits and answers.

One module so recognised speech and typed text are matched by exactly the same rules:
normalise, then look for whole-word phrases. Spoken digits ("four five one two", "oh" = 0)
become digit strings so a caller can say an order number or a menu key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

_PUNCT = re.compile(r"[^\w\s']+")
_SPACES = re.compile(r"\s+")

DIGIT_WORDS: dict[str, str] = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "null": "0",
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "to": "2", "too": "2", "for": "4", "won": "1", "ate": "8",
}
# Homophones are only digits when every word of the utterance is a digit word.
_STRICT_DIGIT_WORDS = {k: v for k, v in DIGIT_WORDS.items()
                       if k not in ("to", "too", "for", "won", "ate", "o")}
_MULTIPLIERS = {"double": 2, "triple": 3}
_FILLERS = {"uh", "um", "er", "erm", "uhm", "hmm", "its", "it's", "is", "my", "number",
            "the", "order", "and", "it", "that's", "thats", "please", "ok", "okay", "so"}

_UNITS = {w: i for i, w in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen"))}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}

# What means yes or no in a caller's answer (text: typed in chat, or free speech).
YES_PHRASES: tuple[str, ...] = (
    "yes", "yeah", "yep", "yup", "correct", "that's right", "thats right", "right", "sure",
    "it is", "that's correct", "affirmative", "uh huh",
)
NO_PHRASES: tuple[str, ...] = (
    "no", "nope", "nah", "wrong", "incorrect", "that's wrong", "not right", "that's not right",
    "it isn't", "negative",
)
# What a recognizer listens for at a yes/no question: whole answers callers give ("yes
# please", "no it isn't"), and not the words it confuses. Measured with espeak-ng voices at
# a confirmation: "negative" took "agent" (10 of 12), and "not right" took "that's right"
# (11 of 12) -- a yes heard as a no.
YES_SPOKEN: tuple[str, ...] = (
    "yes", "yeah", "yep", "yup", "correct", "that's right", "right", "sure", "it is",
    "that's correct", "uh huh", "yes please", "yes it is", "yes that's right",
)
NO_SPOKEN: tuple[str, ...] = (
    "no", "nope", "nah", "wrong", "incorrect", "that's wrong", "that's not right", "it isn't",
    "no it isn't", "no thanks", "no thank you",
)


def normalize(text: str) -> str:
    """Lower case, no punctuation (apostrophes kept inside words), single spaces."""
    text = _PUNCT.sub(" ", text.lower().replace("’", "'"))
    words = [w.strip("'") for w in text.split()]
    return _SPACES.sub(" ", " ".join(w for w in words if w)).strip()


def _contains(words: Sequence[str], phrase: Sequence[str]) -> bool:
    n = len(phrase)
    return n > 0 and any(list(words[i:i + n]) == list(phrase)
                         for i in range(len(words) - n + 1))


def contains_phrase(text: str, phrase: str) -> bool:
    """True when `phrase` occurs in `text` as whole words (both normalised here)."""
    return _contains(normalize(text).split(), normalize(phrase).split())


def find_phrase(text: str, phrases: Iterable[str]) -> str | None:
    """The longest of `phrases` found in `text` as whole words, or None."""
    words = normalize(text).split()
    best: str | None = None
    best_len = 0
    for phrase in phrases:
        pw = normalize(phrase).split()
        if len(pw) > best_len and _contains(words, pw):
            best, best_len = phrase, len(pw)
    return best


def spoken_digits(text: str) -> str | None:
    """The digit string a caller spoke or typed ("four five one two", "4 5 1 2", "double
    seven"), or None when the utterance is not just digits (filler words are allowed)."""
    words = normalize(text).replace("-", " ").split()
    if not words:
        return None
    only_digit_words = all(w in DIGIT_WORDS or w.isdigit() or w in _MULTIPLIERS for w in words)
    table = DIGIT_WORDS if only_digit_words else _STRICT_DIGIT_WORDS
    out: list[str] = []
    repeat = 1
    saw_digit = False
    for w in words:
        if w in _MULTIPLIERS:
            repeat = _MULTIPLIERS[w]
            continue
        if w.isdigit():
            out.append(w * repeat if len(w) == 1 else w)
        elif w in table:
            out.append(table[w] * repeat)
        elif w in _FILLERS:
            repeat = 1
            continue
        else:
            return None
        saw_digit = True
        repeat = 1
    return "".join(out) if saw_digit else None


def spoken_number(text: str) -> int | None:
    """A whole number said in words or figures ("twenty five", "two hundred and six", "42")."""
    words = [w for w in normalize(text).replace("-", " ").split() if w not in ("and", "a")]
    if not words:
        return None
    if len(words) == 1 and words[0].isdigit():
        return int(words[0])
    if len(words) > 1 and all(w in _STRICT_DIGIT_WORDS for w in words):
        digits = spoken_digits(text)  # "one two" is twelve, said digit by digit
        return int(digits) if digits else None
    total, current, seen = 0, 0, False
    for w in words:
        if w.isdigit():
            current += int(w)
        elif w in _UNITS:
            current += _UNITS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            current = max(current, 1) * 100
        elif w == "thousand":
            total += max(current, 1) * 1000
            current = 0
        elif w in _FILLERS:
            continue
        else:
            digits = spoken_digits(text)
            return int(digits) if digits else None
        seen = True
    return total + current if seen else None


def _remove(words: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    for i in range(len(words) - n + 1):
        if words[i:i + n] == phrase:
            del words[i:i + n]
            return True
    return False


def yes_no(text: str) -> str | None:
    """"yes", "no" or None (neither, or both: "yes no" is not an answer)."""
    words = normalize(text).split()
    negs = sorted((normalize(p).split() for p in NO_PHRASES), key=len, reverse=True)
    neg = False
    for phrase in negs:
        while _remove(words, phrase):
            neg = True
    pos = any(_contains(words, normalize(p).split()) for p in YES_PHRASES)
    if neg and pos:
        return None
    if neg:
        return "no"
    return "yes" if pos else None


def match_intent(
    text: str,
    intents: Mapping[str, Sequence[str]],
    dtmf_keys: Mapping[str, str] | None = None,
) -> str | None:
    """The intent whose phrase best matches `text` (longest whole-word phrase wins; a tie
    between two intents is no match). A spoken key ("one") selects the intent with that DTMF
    key, so "press or say one" works."""
    words = normalize(text).split()
    if not words:
        return None
    best: list[str] = []
    best_len = 0
    for name, phrases in intents.items():
        for phrase in phrases:
            pw = normalize(phrase).split()
            if not _contains(words, pw):
                continue
            if len(pw) > best_len:
                best, best_len = [name], len(pw)
            elif len(pw) == best_len and name not in best:
                best.append(name)
    if len(best) == 1:
        return best[0]
    if not best and dtmf_keys:
        digits = spoken_digits(text)
        if digits and len(digits) == 1:
            for name, key in dtmf_keys.items():
                if key == digits:
                    return name
    return None


def digit_words(digits: str) -> tuple[str, ...]:
    """Words a recogniser should expect for these keys (menu keys may be spoken)."""
    names = {v: k for k, v in _STRICT_DIGIT_WORDS.items() if k not in ("oh", "nought", "null")}
    return tuple(names[d] for d in digits if d in names)
