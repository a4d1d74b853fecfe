"""The live page: calls the bot is on now (node, time in call, the last thing heard and its
confidence) and each queue's waiting callers (position, wait, why they were handed over and
what they said). It reloads its tables by itself every few seconds.

"Now" comes from the shared database, which the driver writes after every turn, so every
host's calls show whichever host serves the page. Supervisors and admins see everything;
an agent sees the calls and the queues, but what a caller said only of the caller at the
head of each queue (the next they may take), as the records API lets them. Each call whose
contents are shown is audited (once per person and call every ten minutes).
"""

from __future__ import annotations

import time
from typing import Any

from flask import g, render_template, request

from voicebot.records.browse import live_calls, waiting_callers
from voicebot.service.auth import READERS
from voicebot.service.console.access import AuditOnce
from voicebot.service.runtime import Service

REFRESH_S = 3
REFRESH_LIMITS = (1, 60)


class LivePages:
    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.audit = AuditOnce(svc.store)

    def _state(self) -> dict[str, Any]:
        full = g.principal.has(*READERS)
        now = time.time()
        calls = self.svc.store.ask(lambda store: live_calls(store, now))
        queues = self.svc.store.ask(lambda store: waiting_callers(store, now))
        for queue in sorted(self.svc.allowed_queues):
            queues.setdefault(queue, [])
        for call in calls:
            if full and call.heard is not None:
                self.audit("live_view", call.call_sid)
        for line in queues.values():
            for caller in line:
                if full or caller.position == 1:
                    self.audit("live_view", caller.call_sid)
        return {"calls": calls, "queues": dict(sorted(queues.items())), "full": full,
                "as_of": time.strftime("%H:%M:%S", time.gmtime(now)),
                "refresh": _refresh()}

    def page(self) -> str:
        return render_template("console/live.html", **self._state())

    def part(self) -> str:
        """The live tables alone, which the page's script swaps in."""
        return render_template("console/_live.html", **self._state())


def _refresh() -> int:
    """Seconds between reloads (?every=N, within REFRESH_LIMITS)."""
    try:
        every = int(request.args.get("every", REFRESH_S))
    except ValueError:
        every = REFRESH_S
    return max(REFRESH_LIMITS[0], min(REFRESH_LIMITS[1], every))
