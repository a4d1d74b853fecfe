"""The routes Twilio calls: incoming call, stream end, queue wait, agent, whisper, status, media.

Every route here is signed by Twilio (SignatureGuard.protect on the blueprint, the WebSocket
handshake included). Each answers TwiML built in voicebot.telephony.twiml. Any doubt about a
call's outcome resolves to a person: no record, an unknown outcome or a queue that is not
allowed all enqueue the caller into the fallback queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Response, request
from flask_sock import Sock

from voicebot.logs import log_event
from voicebot.records.transcript import CallTranscript
from voicebot.service.briefing import interrupted_summary, whisper_text
from voicebot.service.media_socket import run_stream
from voicebot.service.runtime import Service
from voicebot.telephony import twiml

log = logging.getLogger("voicebot.routes")


def _xml(document: str) -> Response:
    return Response(document, mimetype="text/xml")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def after_stream_decision(svc: Service, transcript: CallTranscript | None) -> tuple[str, str]:
    """('hangup', '') or ('enqueue', queue); fail safe: anything unclear goes to a person."""
    if transcript is not None and transcript.outcome == "hangup":
        return "hangup", ""
    if (transcript is not None and transcript.outcome == "transfer"
            and transcript.queue in svc.allowed_queues):
        return "enqueue", transcript.queue
    return "enqueue", svc.fallback_queue


def backup_offer(channels: dict[str, str]) -> str | None:
    """What a caller who has waited long can do instead (the flow's backup_channels)."""
    parts = []
    for key, value in (channels or {}).items():
        if not value:
            continue
        if key == "callback_number":
            parts.append(f"call us back later on {value}")
        elif key == "email":
            parts.append(f"write to us at {value}")
        elif key in ("web", "website", "url"):
            parts.append(f"visit {value}")
        else:
            parts.append(f"use {key.replace('_', ' ')}: {value}")
    if not parts:
        return None
    return "If you would rather not wait, you can also " + ", or ".join(parts) + "."


def make_blueprint(svc: Service) -> Blueprint:
    bp = Blueprint("twilio", __name__)
    svc.guard.protect(bp)
    routes = TwilioRoutes(svc)
    bp.post("/voice")(routes.incoming_call)
    bp.post("/voice/after-stream")(routes.after_stream)
    bp.post("/queue/wait")(routes.queue_wait)
    bp.post("/agent")(routes.agent)
    bp.post("/agent/whisper")(routes.whisper)
    bp.post("/status")(routes.status)
    Sock().route("/media", bp=bp)(routes.media)
    return bp


class TwilioRoutes:
    """The handlers of the blueprint, each with the Service of the app it serves."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.base = svc.settings.public_url

    def incoming_call(self) -> Response:
        call_sid = request.form.get("CallSid", "")
        parameters = {"flow": self.svc.flow.name}
        if request.form.get("From"):
            parameters["from"] = request.form["From"]
        log_event(log, "call.incoming", call_sid=call_sid, flow=self.svc.flow.name)
        self._store_safely("call.open_store_error", call_sid, lambda: self.svc.store.open_call(
            call_sid, from_number=request.form.get("From") or None,
            flow_name=str(self.svc.flow.name), flow_version=str(self.svc.flow.version)))
        return _xml(twiml.connect_stream(
            action_url=twiml.public(self.base, "/voice/after-stream"),
            stream_url=twiml.websocket_url(self.base, "/media"),
            parameters=parameters,
        ))

    def after_stream(self) -> Response:
        call_sid = request.form.get("CallSid", "")
        try:
            transcript = self.svc.store.get(call_sid) if call_sid else None
        except Exception:  # noqa: BLE001 - a broken store must not strand the caller
            log.exception("call.after_stream_store_error", extra={"call_sid": call_sid})
            transcript = None
        action, queue = after_stream_decision(self.svc, transcript)
        log_event(log, "call.after_stream", call_sid=call_sid, action=action, queue=queue,
                  outcome=transcript.outcome if transcript else None,
                  reason=transcript.reason if transcript else None,
                  fail_safe=transcript is None or transcript.outcome not in ("hangup",
                                                                             "transfer"))
        if action == "hangup":
            return _xml(twiml.hangup())
        # Recorded for the agent's briefing, whichever host it reaches; a call nothing
        # decided (its stream's host died) is handed over with the context it saved.
        self._store_safely("call.enqueue_store_error", call_sid, lambda: (
            self.svc.store.mark_enqueued(call_sid, queue,
                                         summary_if_undecided=interrupted_summary(transcript))))
        return _xml(twiml.enqueue(queue, twiml.public(self.base, "/queue/wait")))

    @staticmethod
    def _store_safely(event: str, call_sid: str, write: Callable[[], None]) -> None:
        """A write the caller must not wait for or lose the call over (logged if it fails)."""
        if not call_sid:
            return
        try:
            write()
        except Exception as exc:  # noqa: BLE001 - the caller still gets their TwiML
            log_event(log, event, logging.ERROR, call_sid=call_sid, error=type(exc).__name__,
                      detail=str(exc)[:300])

    def queue_wait(self) -> Response:
        position = _int(request.form.get("QueuePosition"))
        waited = _int(request.form.get("QueueTime")) or 0
        offer = None
        if waited >= self.svc.settings.queue_backup_after_s:
            offer = backup_offer(getattr(self.svc.flow, "backup_channels", None) or {})
        log_event(log, "queue.wait", call_sid=request.form.get("CallSid"), position=position,
                  waited_s=waited, backup_offered=offer is not None)
        return _xml(twiml.queue_wait(position, offer, self.svc.settings.hold_music_url,
                                     twiml.public(self.base, "/queue/wait")))

    def agent(self) -> Response:
        queue = (request.values.get("queue") or "").strip() or self.svc.fallback_queue
        if queue not in self.svc.allowed_queues:
            log_event(log, "agent.unknown_queue", logging.WARNING,
                      call_sid=request.form.get("CallSid"), queue=queue)
            return _xml(twiml.say(f"There is no queue named {queue}. Known queues are "
                                  + ", ".join(sorted(self.svc.allowed_queues)) + "."))
        # Twilio plays the <Queue url> document to the dequeued *caller*, so the agent's
        # briefing is spoken here, before the bridge: the summary of the caller at the head of
        # the queue (Twilio dequeues first in, first out).
        waiting = self.svc.store.next_waiting(queue)
        log_event(log, "agent.dial_queue", call_sid=request.form.get("CallSid"), queue=queue,
                  briefed_call_sid=waiting.call_sid if waiting else None)
        briefing = (whisper_text(waiting) if waiting
                    else f"Connecting you to the next caller in the {queue} queue.")
        return _xml(twiml.dial_queue(queue, twiml.public(self.base, "/agent/whisper"), briefing))

    def whisper(self) -> Response:
        # Twilio runs the <Queue url> document on the *dequeued caller's* leg just before the
        # bridge; CallSid is that caller, DequeingCallSid the agent's call. So the caller
        # hears a neutral line (never their own summary), and the pairing is recorded so the
        # agent's desktop can fetch the summary by its own CallSid: GET /agents/<sid>/context.
        caller_sid = request.form.get("CallSid", "")
        agent_sid = request.form.get("DequeingCallSid", "")
        if caller_sid and agent_sid:
            self.svc.store.record_handoff(agent_sid, caller_sid, request.form.get("QueueSid"),
                                     _int(request.form.get("QueueTime")))
        log_event(log, "agent.handoff", call_sid=caller_sid, agent_call_sid=agent_sid,
                  recorded=bool(caller_sid and agent_sid))
        return _xml(twiml.say("Thank you for waiting. You are now connected to a person."))

    def status(self) -> Response:
        call_sid = request.form.get("CallSid", "")
        call_status = request.form.get("CallStatus", "")
        if call_sid and call_status:
            self.svc.store.close_call(call_sid, call_status)
        log_event(log, "call.status", call_sid=call_sid, status=call_status)
        return Response(status=204)

    def media(self, ws) -> None:  # noqa: ANN001 - simple_websocket.Server
        run_stream(ws, self.svc.new_driver())
