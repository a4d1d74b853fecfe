"""The one text normaliser: what a caller said (recognised or typed) and what a designer or
tester wrote become the same words before anything compares them.

Every comparison in the project goes through here: the flow's matching, the engines'
grammars and the early end of a turn, the testers' `heard` verdicts. Recognisers write the
same answer in many ways ("It's 4,512.", "it's four five one two", "Can I speak to a
person, please?", "that’s right" with a curly apostrophe), so the rules are:

- Unicode compatibility forms folded (NFKC), lower case, curly quotes made straight;
- a figure's thousands separator dropped ("4,512" -> "4512"); any other punctuation, hyphens
  and dashes included, separates words ("forty-five" -> "forty five", "4-5-1-2" -> "4 5 1 2");
- apostrophes kept inside words ("that's", "i'd") so the text still reads well in a
  transcript and spells words as dictionaries do, and dropped at word edges.

`words()` / `compare_form()` are the comparison form: normalised words without
apostrophes, so "thats right" typed in chat and "that's right" from a recogniser compare
equal (engines return their text in this form). `digit_form()` also reads digit words and
figures digit by digit, for checks where "123456" and "one two three four five six" mean
the same.
"""

from __future__ import annotations

import re
import unicodedata

# Digit words that mean only a digit wherever they occur ("oh" is how many callers say 0).
DIGIT_NAMES: dict[str, str] = {
    "zero": "0", "oh": "0", "nought": "0",
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2032": "'",
                         "`": "'", "\u00b4": "'"})
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_SEPARATORS = re.compile(r"[^\w']+|_")
_EDGE_APOSTROPHES = re.compile(r"(?<!\w)'+|'+(?!\w)")
_FIGURE = re.compile(r"\d+")


def normalize(text: str) -> str:
    """Lower case, no punctuation (apostrophes kept inside words), single spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    text = _THOUSANDS.sub("", text)
    text = _SEPARATORS.sub(" ", text)
    text = _EDGE_APOSTROPHES.sub(" ", text)
    return " ".join(text.split())


def word_key(word: str) -> str:
    """A normalised word as it is compared: without apostrophes ("that's" == "thats")."""
    return word.replace("'", "")


def words(text: str) -> list[str]:
    """The words of `text` in comparison form."""
    return [k for w in normalize(text).split() if (k := word_key(w))]


def compare_form(text: str) -> str:
    """`text` as it is compared: normalised, without apostrophes ("that's" -> "thats")."""
    return " ".join(words(text))


def digit_form(text: str) -> str:
    """`text` for an equality check where digits may be written either way: the comparison
    form with digit words as figures and figures digit by digit
    ("123456" == "one two three four five six" == "1 2 3 4 5 6")."""
    out: list[str] = []
    for w in words(text):
        digit = DIGIT_NAMES.get(w)
        if digit is not None:
            out.append(digit)
        elif _FIGURE.fullmatch(w):
            out.extend(w)
        else:
            out.append(w)
    return " ".join(out)
