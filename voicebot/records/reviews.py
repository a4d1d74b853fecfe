"""Supervisors' reviews of calls: how the bot did on one call, and a note.

A review names the call, who reviewed it (a token's name and role, as in the audit log),
when, a verdict from a closed set and a short note. A call may be reviewed more than once
(a second look, another supervisor); the newest review is the call's verdict. The note is
written by staff about a call, not by the caller, but it may well quote them: it is kept
with the call and goes when the call goes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from voicebot.errors import VoicebotError
from voicebot.records.database import Database, now_iso
from voicebot.records.schema import calls, reviews

VERDICTS: dict[str, str] = {
    "handled_well": "handled well",
    "handover_sooner": "should have handed over sooner",
    "misheard": "misheard the caller",
    "wrong_answer": "gave a wrong answer",
    "other": "other",
}
NOTE_MAX = 2000


class ReviewError(VoicebotError):
    """A review that cannot be kept (an unknown verdict or call, a note too long)."""


@dataclass(frozen=True)
class Review:
    call_sid: str
    at: str
    reviewer: str
    role: str
    verdict: str
    note: str = ""

    @property
    def verdict_text(self) -> str:
        return VERDICTS.get(self.verdict, self.verdict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ReviewStore:
    """Reviews in a Database (the call store's: CallStore.database)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, call_sid: str, *, reviewer: str, role: str, verdict: str,
            note: str = "", at: str | None = None) -> Review:
        note = check_review(verdict, note)
        review = Review(call_sid=call_sid, at=at or now_iso(), reviewer=reviewer, role=role,
                        verdict=verdict, note=note)
        with self._db.transaction("keep the review") as conn:
            exists = conn.execute(sa.select(calls.c.call_sid)
                                  .where(calls.c.call_sid == call_sid)).first()
            if exists is None:
                raise ReviewError(f"no call {call_sid!r} in the records")
            conn.execute(reviews.insert().values(**review.to_dict()))
        return review

    def for_call(self, call_sid: str) -> list[Review]:
        """The call's reviews, newest first."""
        query = (sa.select(reviews).where(reviews.c.call_sid == call_sid)
                 .order_by(reviews.c.id.desc()))
        with self._db.transaction("read the reviews", write=False) as conn:
            return [_review(row._mapping) for row in conn.execute(query)]

    def latest(self, call_sids: Iterable[str]) -> dict[str, Review]:
        """The newest review of each of these calls that has one."""
        sids = list(dict.fromkeys(call_sids))
        if not sids:
            return {}
        newest = (sa.select(sa.func.max(reviews.c.id)).where(reviews.c.call_sid.in_(sids))
                  .group_by(reviews.c.call_sid))
        query = sa.select(reviews).where(reviews.c.id.in_(newest))
        with self._db.transaction("read the reviews", write=False) as conn:
            return {row.call_sid: _review(row._mapping) for row in conn.execute(query)}


def check_review(verdict: str, note: str) -> str:
    """The note as it is kept; ReviewError for an unknown verdict or a note too long."""
    if verdict not in VERDICTS:
        raise ReviewError(f"unknown verdict {verdict!r}: choose {', '.join(VERDICTS)}")
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ReviewError(f"the note is {len(note)} characters; keep it under {NOTE_MAX}")
    return note


def _review(row: Any) -> Review:
    return Review(call_sid=row["call_sid"], at=row["at"], reviewer=row["reviewer"],
                  role=row["role"], verdict=row["verdict"], note=row["note"] or "")
