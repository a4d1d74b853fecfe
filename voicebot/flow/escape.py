"""Does the caller ask for a person? Found anywhere in what they said, however they put it.

Callers ask for a person in endless ways ("can I speak to a person please", "get me an
operator", "let me talk to somebody", "I need a human", "transfer me"), and a missed request
traps them, so this is a rule, not a list of sentences. A sentence merely mentioning people
("the person at the door took my parcel", "my agent number is 4512") must not hand over.
An utterance asks for a person when:

1. a request frame governs a person word: a verb of being put through ("speak", "talk",
   "transfer", "connect", ...) followed by a person within a few words, or a verb of
   wanting ("want", "need", "get me", "can I have") directly before one ("a", "a real",
   "me an" may sit between, and after an article one word for what the person does: "a
   billing agent"); or a person word followed by "(that) I can talk to" (not "... to
   it"); or someone to talk to with nobody named ("who can I talk to?", "is there any way
   I can speak with", the person left unsaid or not heard; not "something I need to talk
   to", where a thing is what is talked to); or asking to talk to anyone at all
   ("can I talk to him", "let me speak to a supervisor", a person word misheard: "let me
   speak to an imageant"), though not to "you" about something;
2. it is a handing-over verb with "me" ("transfer me", "put me through", "connect me");
3. a person is named as real or live ("a real person", "live agent", "an actual human");
4. it is one of the flow's escape phrases: a phrase of several words anywhere (the designer
   chose it), a single word when it stands alone (with fillers and politeness: "agent",
   "um, an operator please") or under a request frame as above.

A negation just before the frame ("I don't want to talk to a person") cancels it. Person
words are the built-in ones below and the flow's single-word escape phrases; plurals count;
one naming a thing ("an agent number", "the operator code") is none.
Words are compared as spoken: "spoke to an agent yesterday" is no request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from voicebot.flow.normalize import words

PERSON_WORDS = frozenset({
    "agent", "person", "human", "operator", "representative", "rep", "someone", "somebody",
    "anyone", "anybody", "staff", "advisor", "adviser", "associate", "supervisor", "manager",
    "attendant", "receptionist", "people", "specialist", "employee",
})
PERSON_PHRASES: tuple[tuple[str, ...], ...] = (
    ("customer", "service"), ("customer", "services"), ("customer", "support"),
    ("customer", "care"), ("human", "being"),
    # Recognisers write some of these as two words.
    ("some", "one"), ("some", "body"), ("any", "one"), ("any", "body"),
)
# Verbs of being put through to someone: the person may come a few words later
# ("talk to one of your agents", "speak with a real live person").
PUT_THROUGH = frozenset({"speak", "talk", "chat", "transfer", "connect", "reach", "escalate"})
# Verbs of wanting: the person must follow at once, with only these words between, so that
# "I need the person who delivered it to come back" is not a request.
WANT = frozenset({"want", "wanna", "need", "like", "get", "give", "prefer", "request", "see"})
# "have" asks only as a question: "can I have an agent", not "I have an agent number".
ASK_HAVE = (("can", "i", "have"), ("could", "i", "have"), ("may", "i", "have"))
_BETWEEN_WANT = frozenset({"me", "a", "an", "to", "some", "real", "live", "actual", "one",
                           "of", "your", "you", "uh", "um", "just", "through", "with",
                           "please"})
_BETWEEN_PUT = _BETWEEN_WANT | {"the", "my", "our", "directly", "right", "now", "away",
                                "there", "that", "this"}
PUT_THROUGH_WINDOW = 5
REAL = frozenset({"real", "live", "actual", "proper"})
HAND_OVER_ME = frozenset({"transfer", "connect", "put", "forward", "escalate"})
# "no" alone is an answer ("no, get me a person"), not a negation; "no need to" is one.
NEGATIONS = frozenset({"dont", "not", "never", "doesnt", "didnt", "wont", "cant", "without"})
# What may surround an escape word said on its own: "um, an agent please", "operator now".
ALONE_WORDS = frozenset({
    "um", "uh", "er", "erm", "hmm", "ah", "oh", "mm", "please", "thanks", "thank", "you",
    "a", "an", "the", "just", "ok", "okay", "so", "well", "yes", "yeah", "hi", "hello",
    "now", "right", "away", "real", "live", "actual", "me", "i", "want", "need", "get",
    "give", "with", "to", "some", "sorry", "excuse", "again",
})


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


@lru_cache(maxsize=512)
def _phrases(escape_phrases: tuple[str, ...]) -> tuple[frozenset[str], tuple[tuple[str, ...], ...]]:
    """The flow's escape phrases split into single person words and longer phrases."""
    singles: set[str] = set()
    longer: list[tuple[str, ...]] = []
    for phrase in escape_phrases:
        ws = tuple(words(phrase))
        if len(ws) == 1:
            singles.add(_singular(ws[0]))
        elif ws:
            longer.append(ws)
    return frozenset(singles), tuple(longer)


def _at(tokens: Sequence[str], i: int, phrase: Sequence[str]) -> bool:
    return tuple(tokens[i:i + len(phrase)]) == tuple(phrase)


def _negated(tokens: Sequence[str], i: int) -> bool:
    """A negation within the three words before position i ("don't want to talk")."""
    return any(tokens[k] in NEGATIONS or (tokens[k] == "no" and tokens[k + 1:k + 2] == ["need"])
               for k in range(max(0, i - 3), i))


# A person word before one of these names a thing, not a person: "can I have an agent
# number", "my representative's name", "the operator code" ask for no one.
THING_NAMED = frozenset({"number", "numbers", "id", "code", "name", "reference", "badge"})


def _persons(tokens: Sequence[str], singles: frozenset[str]) -> list[tuple[int, int]]:
    """(start, end) of every person mention: built-in words and phrases, the flow's words;
    not a person word that names a thing (THING_NAMED follows it)."""
    spans = []
    for i, w in enumerate(tokens):
        for phrase in PERSON_PHRASES:
            if _at(tokens, i, phrase) and not _names_thing(tokens, i + len(phrase)):
                spans.append((i, i + len(phrase)))
        if (_singular(w) in PERSON_WORDS or _singular(w) in singles) \
                and not _names_thing(tokens, i + 1):
            spans.append((i, i + 1))
    return spans


def _names_thing(tokens: Sequence[str], after: int) -> bool:
    return after < len(tokens) and tokens[after] in THING_NAMED


# A person word may have one word naming what they do between it and its article ("a
# billing agent", "the delivery person", a misheard "an order operator").
_ARTICLES = frozenset({"a", "an", "the", "your"})


def _head(tokens: Sequence[str], start: int) -> int:
    """Where the person mention at `start` begins, with one such word before it."""
    if start >= 2 and tokens[start - 2] in _ARTICLES:
        word = tokens[start - 1]
        if word not in NEGATIONS and word not in PUT_THROUGH and word not in WANT:
            return start - 1
    return start


def _governed(tokens: Sequence[str], start: int) -> bool:
    """Whether a request frame governs the person word at `start`."""
    # A verb of being put through, up to a few words before ("talk to one of your agents").
    head = _head(tokens, start)
    for j in range(head - 1, max(-1, head - 1 - PUT_THROUGH_WINDOW), -1):
        w = tokens[j]
        if w in PUT_THROUGH:
            return not _negated(tokens, j)
        if w not in _BETWEEN_PUT:
            break
    # A verb of wanting right before it ("I need a human", "get me an operator").
    for j in range(head - 1, max(-1, head - 5), -1):
        w = tokens[j]
        if w in WANT or (j >= 2 and tuple(tokens[j - 2:j + 1]) in ASK_HAVE):
            return not _negated(tokens, j)
        if w not in _BETWEEN_WANT:
            break
    # "a person I can talk to", "anyone there to speak with" (not "somebody I need to talk
    # about it", nor "an agent ... I can speak to it": the talking is to someone else).
    return any(tokens[k] in PUT_THROUGH and _to_or_end(tokens, k + 1)
               and not (k + 2 < len(tokens) and tokens[k + 2] in _OTHER_LISTENER)
               for k in range(start + 1, min(len(tokens), start + 5))
               ) and not _negated(tokens, start)


# "Who can I talk to?": talking to someone, with the someone unsaid (politeness may follow).
_TALK = frozenset({"speak", "talk", "chat"})
_TALK_TO = frozenset({"to", "with"})
_TRAILING = frozenset({"please", "now", "here", "there", "today", "uh", "um"})


def _to_or_end(tokens: Sequence[str], i: int) -> bool:
    """Whether a talking verb ending at i is followed by "to"/"with" or nothing more."""
    return tokens[i:] in ([], ["please"]) or tokens[i] in _TALK_TO


# Who is talked to when it is not the person before: "... I can speak to it".
_OTHER_LISTENER = frozenset({"it", "this", "that", "them", "him", "her", "you", "me"})
# A thing before "I need to talk to" is what is talked to, not a person left unsaid:
# "something I need to talk to" (Whisper's "something I didn't order").
_THINGS = frozenset({"something", "anything", "everything", "nothing", "it", "this"})


def _someone_unsaid(tokens: Sequence[str]) -> bool:
    end = len(tokens)
    while end and tokens[end - 1] in _TRAILING:
        end -= 1
    return (end >= 2 and tokens[end - 1] in _TALK_TO and tokens[end - 2] in _TALK
            and not _negated(tokens, end - 2) and not _thing_talked_to(tokens, end - 2))


_AUX = frozenset({"need", "needs", "can", "could", "want", "have", "to", "will", "would",
                  "should", "must", "just", "really", "got", "gotta", "wanna"})


def _thing_talked_to(tokens: Sequence[str], verb: int) -> bool:
    """Whether the clause ending in the talking verb at `verb` is about a thing before its
    subject ("something I need to talk to"), not "who can I talk to"."""
    k = verb - 1
    while k >= 0 and tokens[k] in _AUX:
        k -= 1
    return k >= 1 and tokens[k] in ("i", "we") and tokens[k - 1] in _THINGS


# "Can I talk to him", "let me speak to a librarian": asking to talk to someone, whoever the
# listener is (a recogniser may mishear the person word, "an imageant" for "a live agent").
_ASKING = frozenset({"can", "could", "may", "want", "wanna", "need", "like", "let", "please",
                     "rather", "id", "would"})
_LISTENER_SKIP = frozenset({"a", "an", "the", "your", "one", "of", "some", "real", "live",
                            "um", "uh"})
_NOT_A_LISTENER = frozenset({"you", "it", "this", "that", "about", "me", "myself", "them",
                             "anything", "something"})


def _asks_to_talk(tokens: Sequence[str]) -> bool:
    for i in range(len(tokens) - 2):
        if tokens[i] not in _TALK or tokens[i + 1] not in _TALK_TO or _negated(tokens, i):
            continue
        if not any(w in _ASKING for w in tokens[max(0, i - 3):i]):
            continue
        rest = [w for w in tokens[i + 2:] if w not in _LISTENER_SKIP]
        if rest[:1] == ["my"]:  # the caller's own things, unless a person: "my account rep"
            if any(_singular(w) in PERSON_WORDS for w in rest[1:4]):
                return True
        elif rest and rest[0] not in _NOT_A_LISTENER and rest[0] not in _TRAILING:
            return True
    return False


def _hand_over_me(tokens: Sequence[str]) -> bool:
    for i, w in enumerate(tokens[:-1]):
        if w in HAND_OVER_ME and tokens[i + 1] == "me" and not _negated(tokens, i):
            nxt = tokens[i + 2:i + 3]
            # "put me through", "transfer me", "connect me" -- not "put me down for ...".
            if w != "put" or nxt in (["through"], ["on"], ["over"]):
                return True
    return False


def asks_for_person(text: str, escape_phrases: Iterable[str] = ()) -> bool:
    """Whether `text` asks to be handed to a person (see the module's rules)."""
    tokens = words(text)
    if not tokens:
        return False
    singles, longer = _phrases(tuple(escape_phrases))
    for phrase in longer:  # the designer's longer phrases count anywhere
        for i in range(len(tokens) - len(phrase) + 1):
            if _at(tokens, i, phrase) and not _negated(tokens, i):
                return True
    if _hand_over_me(tokens) or _someone_unsaid(tokens) or _asks_to_talk(tokens):
        return True
    spans = _persons(tokens, singles)
    for start, _end in spans:
        if start > 0 and tokens[start - 1] in REAL and not _negated(tokens, start - 1):
            return True
        if _governed(tokens, start):
            return True
    # A single escape word said on its own, with fillers and politeness around it.
    said = [(s, e) for s, e in spans if any(_singular(w) in singles for w in tokens[s:e])]
    if said:
        covered = {i for s, e in said for i in range(s, e)}
        return all(i in covered or w in ALONE_WORDS for i, w in enumerate(tokens))
    return False


# Who a request names when it names no one ("some one": how recognisers write it too).
GENERIC_PERSONS = frozenset({"someone", "somebody", "anyone", "anybody", "some", "any", "one",
                             "body"})


def names_whom(text: str, escape_phrases: Iterable[str] = ()) -> bool:
    """Whether a request says whom or how: a person word other than "someone" ("an agent",
    "customer service", "a real person"), the flow's phrase that names one, or a handing-over
    verb ("transfer me", "put me through"). "I'd like to speak to someone, please" names no
    one: it is also what a recogniser primed with requests writes when the audio gives it
    little, so a second reading of that kind alone is not evidence of a request."""
    tokens = words(text)
    singles, longer = _phrases(tuple(escape_phrases))
    if _hand_over_me(tokens):
        return True
    if any(_at(tokens, i, phrase) for phrase in longer if not GENERIC_PERSONS & set(phrase)
           for i in range(len(tokens))):
        return True
    return any(not set(tokens[s:e]) <= GENERIC_PERSONS for s, e in _persons(tokens, singles))
