"""CallerSimulator: plays Twilio's (and the caller's) side of a Media Stream, with no socket.

Pure like the driver: the offline replay loop and the live stand-in (`voicebot call`) both
use it, so a scenario behaves the same offline and against a running service.

CONTRACT (owned by the testers helper; the live stand-in codes against it):

    sim = CallerSimulator(turns: list[CallerTurn], call_sid, stream_sid, account_sid,
                          custom_parameters: dict[str, str], from_number: str)
    sim.opening() -> list[str]            # 'connected' and 'start' messages
    sim.on_message(text, now) -> None     # a message from the service: media, mark, clear
    sim.poll(now) -> list[str]            # what Twilio sends by `now`: 20 ms media frames
                                          # (caller audio or silence), dtmf, mark echoes
    sim.next_due() -> float               # when poll next has something to send
    sim.closing(now) -> list[str]         # 'stop' message (caller side hangs up)
    sim.done -> bool                      # turns exhausted and trailing wait over
    sim.turn_gaps_ms -> list[float]       # last voiced caller frame -> first bot audio back
    sim.audio_gaps -> int                 # gaps in the bot's outgoing audio within a prompt
"""
