"""Understanding a caller's turn: what they said (recognised speech, or text typed in
`voicebot chat`) becomes an escape request, an intent, digits or a yes/no answer.

One module, so a call and chat understand a sentence by exactly the same rules. Callers
speak sentences ("um, I'm calling about my order", "yes that's right", "it's four five one
two"), so every rule looks for its answer inside the sentence rather than expecting the
phrase alone:

- escape requests: voicebot.flow.escape (a request frame with a person, the flow's phrases);
- intents: the flow's phrases found anywhere as whole words, with fillers ("um", "uh")
  skipped and regular inflections folded ("bills" = "bill", "charged" = "charge");
- digits and numbers: voicebot.flow.numbers;
- yes/no: answer phrases anywhere, a negation turning "that's right" into a no.

Two different answers in one sentence are no answer: the flow asks again rather than guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from voicebot.flow.escape import asks_for_person
from voicebot.flow.normalize import DIGIT_NAMES, normalize, words
from voicebot.flow.numbers import spoken_digits, spoken_number

__all__ = [
    "NO_PHRASES", "NO_SPOKEN", "YES_PHRASES", "YES_SPOKEN", "contains_phrase", "digit_words",
    "find_phrase", "intents_named", "is_escape", "match_intent", "normalize", "phrase_form",
    "spoken_digits", "spoken_number", "yes_no",
]

# What means yes or no in a caller's answer (typed in chat, or heard), found anywhere in it.
YES_PHRASES: tuple[str, ...] = (
    "yes", "yeah", "yep", "yup", "yea", "ya", "correct", "that's right", "right", "sure",
    "it is", "that's correct", "affirmative", "uh huh", "absolutely", "exactly", "go ahead",
    "sounds good", "perfect", "that's it", "of course", "definitely", "that is right",
    "that is correct", "you got it", "spot on", "that's the one",
)
NO_PHRASES: tuple[str, ...] = (
    "no", "nope", "nah", "wrong", "incorrect", "that's wrong", "not right", "that's not right",
    "it isn't", "negative", "not correct", "isn't right", "is not", "isn't", "not it",
    "not quite", "not really", "don't think so", "that's not", "not that", "not what i said",
    "wasn't", "was not", "no way",
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

# Hesitations: skipped when looking for a phrase ("order, um, status").
HESITATIONS = frozenset({"um", "uh", "er", "erm", "uhm", "hmm", "ah", "mm", "umm", "uhh"})
# Bare answers: phrases made only of these words ("yes", "sure", "no thanks"). A bare yes
# gives way to a phrase with content in the same sentence ("yeah, another order please" is
# another order, not a plain yes); a bare no does not ("no, my order is fine" is no request
# for another order), and a yes and a no together are no answer: both are asked again.
BARE_YES_WORDS = frozenset({"yes", "yeah", "yep", "yup", "yea", "sure", "please", "ok",
                            "okay", "oh"})
BARE_NO_WORDS = frozenset({"no", "nope", "nah", "thanks", "thank", "you", "please"})
# Words around a spoken menu key: "press one", "option two please", "um, one".
KEY_WORDS = frozenset({"press", "pressing", "option", "number", "key", "choose", "select",
                       "pick", "the", "please", "ok", "okay", "ill", "id", "like", "want",
                       "its", "is", "and", "so", "yes", "yeah"}) | HESITATIONS  # as words()
# Words after which a phrase is a verb or is refused ("I didn't order it", "not billing").
NEGATED_VERB = frozenset({"didnt", "dont", "doesnt", "never", "not", "havent", "hasnt",
                          "wont", "cant", "wasnt", "werent"})
# Inflections are folded only where the lemma keeps the word's stem ("charged" -> "charge",
# "deliveries" -> "delivery"), never across words ("is" -> "be", "us" -> "we").
_STEM_KEPT = 3


def is_escape(text: str, escape_phrases: Iterable[str]) -> bool:
    """Whether the caller asks for a person (voicebot.flow.escape has the rules)."""
    return asks_for_person(text, escape_phrases)


@lru_cache(maxsize=8192)
def _lemma(word: str) -> str:
    if not word.isalpha() or len(word) < 4:
        return word
    import simplemma  # loads its English table on first use (0.1-0.5 s), once per process

    lemma = simplemma.lemmatize(word, lang="en").lower()
    keep = max(_STEM_KEPT, len(lemma) - 1)
    return lemma if lemma[:keep] == word[:keep] else word


@lru_cache(maxsize=4096)
def _phrase_forms(phrase: str) -> tuple[str, ...]:
    return tuple(_lemma(w) for w in words(phrase))


def phrase_form(phrase: str) -> str:
    """A phrase as it is matched: "Bills" and "bill" are one phrase, so two intents may not
    share them (checking the flow's phrases at load also loads the lemma table then, not in
    a caller's first turn)."""
    return " ".join(_phrase_forms(phrase))


def _forms(text: str) -> tuple[str, ...]:
    """The utterance's words as phrases are compared: hesitations out ("uh huh" stays),
    inflections folded."""
    tokens = words(text)
    kept = [w for i, w in enumerate(tokens)
            if w not in HESITATIONS or tokens[i + 1:i + 2] == ["huh"]]
    return tuple(_lemma(w) for w in kept)


# "No" before these is no answer: "no matter what", "no idea". Not "one": "no one" may be
# "nobody", but "No, one two three four" corrects a number read back.
NO_DETERMINES = frozenset({"matter", "idea", "doubt", "longer", "long"})


def _spans(forms: Sequence[str], phrase: Sequence[str]) -> list[tuple[int, int]]:
    """Where `phrase` occurs in `forms`, as (start, end); never a "no" that is no answer."""
    n = len(phrase)
    if not n:
        return []
    return [(i, i + n) for i in range(len(forms) - n + 1) if tuple(forms[i:i + n]) == phrase
            and not (phrase[-1] == "no" and i + n < len(forms)
                     and forms[i + n] in NO_DETERMINES)]


def contains_phrase(text: str, phrase: str) -> bool:
    """True when `phrase` occurs in `text` as whole words (inflections folded)."""
    return bool(_spans(_forms(text), _phrase_forms(phrase)))


def find_phrase(text: str, phrases: Iterable[str]) -> str | None:
    """The longest of `phrases` found in `text` as whole words, or None."""
    forms = _forms(text)
    best: str | None = None
    best_len = 0
    for phrase in phrases:
        pf = _phrase_forms(phrase)
        if len(pf) > best_len and _spans(forms, pf):
            best, best_len = phrase, len(pf)
    return best


@dataclass(frozen=True)
class _Match:
    intent: str
    start: int
    end: int
    kind: str  # "yes" (a bare yes), "no" (a bare no) or "content"

    def inside(self, other: _Match) -> bool:
        return (other.start <= self.start and self.end <= other.end
                and other.end - other.start > self.end - self.start)


def match_intent(
    text: str,
    intents: Mapping[str, Sequence[str]],
    dtmf_keys: Mapping[str, str] | None = None,
) -> str | None:
    """The intent the caller asked for, or None (nothing matched, or two intents did).

    Each intent's phrases are looked for anywhere in the sentence. A phrase found inside a
    longer one found ("order" in "order status", "yes" in "yes another order") does not
    count on its own; a bare yes gives way to a phrase with content. If what is left names
    one intent, that is the answer; if it names two, the caller is asked again.
    A spoken key ("one", "press two") selects the intent with that DTMF key.
    """
    forms = _forms(text)
    names = _named(forms, intents)
    if len(names) == 1:
        return names.pop()
    if not names and dtmf_keys:
        key = _spoken_key(forms)
        if key is not None:
            return next((name for name, k in dtmf_keys.items() if k == key), None)
    return None


def intents_named(text: str, intents: Mapping[str, Sequence[str]]) -> set[str]:
    """Every intent the sentence names by match_intent's rules: none, one (the answer), or
    several (no answer: the caller is asked again)."""
    return _named(_forms(text), intents)


def _named(forms: tuple[str, ...], intents: Mapping[str, Sequence[str]]) -> set[str]:
    if not forms:
        return set()
    found: list[_Match] = []
    for name, phrases in intents.items():
        for phrase in phrases:
            pf = _phrase_forms(phrase)
            kind = ("yes" if all(w in BARE_YES_WORDS for w in pf) else
                    "no" if all(w in BARE_NO_WORDS for w in pf) else "content")
            # Negations do not cancel a phrase: callers complain with them ("I didn't get
            # my refund", "my parcel hasn't arrived"). But a phrase right after a negated
            # auxiliary is a verb, not the thing named ("something I didn't order" is no
            # order status; "not billing" is no billing).
            found += [_Match(name, s, e, kind) for s, e in _spans(forms, pf)
                      if kind != "content" or s == 0 or forms[s - 1] not in NEGATED_VERB]
    found = [m for m in found if not any(m.inside(o) for o in found)]
    if any(m.kind == "content" for m in found):
        found = [m for m in found if m.kind != "yes"]
    return {m.intent for m in found}


def _spoken_key(forms: Sequence[str]) -> str | None:
    """The one key a caller said with nothing but key words around it ("press one")."""
    rest = [w for w in forms if w not in KEY_WORDS]
    if len(rest) != 1:
        return None
    w = rest[0]
    if w in DIGIT_NAMES and w not in ("oh", "nought"):
        return DIGIT_NAMES[w]
    return w if len(w) == 1 and w.isdigit() else None


@lru_cache(maxsize=1)
def _answer_phrases() -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    neg = sorted((tuple(words(p)) for p in NO_PHRASES), key=len, reverse=True)
    pos = [tuple(words(p)) for p in YES_PHRASES]
    return neg, pos


def yes_no(text: str) -> str | None:
    """"yes", "no" or None (neither, or both: "yes no" is not an answer). The answer may sit
    in a sentence ("yes that's right", "no that's not it", "yeah go ahead")."""
    tokens = [w for w in words(text) if w not in HESITATIONS or w == "uh"]
    neg_phrases, pos_phrases = _answer_phrases()
    neg = False
    for phrase in neg_phrases:  # longest first: "that's not right" before "right"
        while spans := _spans(tokens, phrase):
            s, e = spans[0]
            # A gap, so the words around it do not join up; a negation of "not" kind also
            # turns over the answer right beside it ("no it is not right": "it is" is no
            # yes), though not a bare yes ("yes, not correct" is both: asked again).
            tokens[s:e] = [_NOT_GAP if _NEGATORS.intersection(phrase) else "\0"]
            neg = True
    pos = any(set(phrase) <= BARE_YES_WORDS or not _beside(tokens, s, e, _NOT_GAP)
              for phrase in pos_phrases for s, e in _spans(tokens, phrase))
    if neg and pos:
        return None
    if neg:
        return "no"
    return "yes" if pos else None


_NOT_GAP = "\1"
_NEGATORS = frozenset({"not", "isnt", "wasnt", "dont", "doesnt", "arent"})


def _beside(tokens: Sequence[str], start: int, end: int, mark: str) -> bool:
    return mark in tokens[max(0, start - 1):start] or mark in tokens[end:end + 1]


def digit_words(digits: str) -> tuple[str, ...]:
    """Words a recogniser should expect for these keys (menu keys may be spoken)."""
    names = {v: k for k, v in DIGIT_NAMES.items() if k not in ("oh", "nought")}
    return tuple(names[d] for d in digits if d in names)
