"""Confidence calibration constants, fitted on real recordings
(`python scripts/bench_digits.py --calibrate` prints the figures).

pocketsphinx: d = (grammar path score - free phone loop score) per speech frame, and for a
phrase list m = (grammar path score - score of the grammar without the recognised phrase)
per speech frame, both in pocketsphinx log units (base 1.0001, >> 10).
confidence = logistic(SLOPE * d + MARGIN_SLOPE * m + BIAS), or for digit loops
logistic(LOOP_SLOPE * d + LOOP_BIAS).
"""

# Fitted (logistic regression, `scripts/bench_digits.py --fit`) on the FSDD tuning split
# (clip indices 0-9), phone adaptation on, rejection off: correct answers against
# misrecognitions and out-of-grammar turns (the spoken digit left out of the grammar). The
# bias is then set so that out-of-grammar speech passes 0.5 as often as with the calibration
# before, so that a flow's threshold keeps its meaning. Figures: README, Measurements.
SLOPE = 0.1004
MARGIN_SLOPE = 0.0279
BIAS = 0.915
# Digit strings (no single rival phrase): the same on the digit-loop grammar, the bias set so
# that misrecognised digits pass 0.5 as often as before.
LOOP_SLOPE = 0.0513
LOOP_BIAS = 0.570
MARGIN_CAP = 50.0  # a rival that fails to decode at all gives an infinite margin
REJECT_BELOW = 0.2  # below this the reject path fires (text "", in_grammar False)

# Whisper (whisper_engine.confidence): logistic(LOGPROB_SLOPE * mean token log probability
# + NO_SPEECH_SLOPE * no-speech probability + BIAS); placeholders until fitted.
WHISPER_LOGPROB_SLOPE = 6.052
WHISPER_NO_SPEECH_SLOPE = -3.866
WHISPER_BIAS = 7.132
WHISPER_REJECT_BELOW = 0.2
WHISPER_NO_SPEECH_REJECT = 0.65  # Whisper's own "no speech here" at or above this: rejected
