"""CallDriver: one call's Twilio Media Streams conversation, with no socket inside.

Like h11's Connection: the transport (the Flask WebSocket route, or offline replay on a
virtual clock) feeds it every inbound Twilio message text with the current stream time and
sends back whatever it returns. Inside, it parses messages (media_stream), runs the call
session core (session), renders prompts to mu-law (speech.tts), performs lookups
(flow.lookup) and reports what happened to a recorder. Identical code serves live callers
and testers' replays.

CONTRACT (owned by the session-core helper; others code against these signatures):

    driver = CallDriver(deps: CallDeps, call_sid_hint: str | None = None)
    out: list[str] = driver.receive(text, now)   # one inbound Twilio JSON message
    out = driver.tick(now)                         # time passed with no message (timers)
    driver.finished -> bool     # True once the call logic is over; the transport then closes
                                # the WebSocket (Twilio then requests the <Connect> action URL)
    driver.transcript -> CallTranscript   # voicebot.records.transcript
    driver.stream_dropped(now)  # the socket closed without a 'stop': fail safe to a person

`now` is seconds on the transport's clock (monotonic for live, virtual for replay).
Outbound texts are Twilio JSON messages: media (base64 mu-law 8 kHz), mark, clear.
"""
