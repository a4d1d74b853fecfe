"""Confidence calibration constants, measured on real recordings
(`python scripts/bench_digits.py --calibrate` prints the figures; see the README text).

pocketsphinx: d = (grammar path score - free phone loop score) per speech frame, and for a
phrase list m = (grammar path score - score of the grammar without the recognised phrase)
per speech frame, both in pocketsphinx log units (base 1.0001, >> 10).
confidence = logistic(SLOPE * d + MARGIN_SLOPE * m + BIAS), or for digit loops
logistic(LOOP_SLOPE * d + LOOP_BIAS).
"""

# Fitted (logistic regression) on the FSDD tuning split (clip indices 0-9): 480 correct
# answers vs 112 misrecognitions + 583 out-of-grammar turns (the spoken digit left out of the
# grammar); the bias is then moved so that 0.5 is the cut that best balances the two.
SLOPE = 0.0718
MARGIN_SLOPE = 0.0204
BIAS = 0.369
LOOP_SLOPE = 0.0794
LOOP_BIAS = 0.732
MARGIN_CAP = 50.0  # a rival that fails to decode at all gives an infinite margin
REJECT_BELOW = 0.2  # below this the reject path fires (text "", in_grammar False)
