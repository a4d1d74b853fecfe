"""Confidence calibration constants, measured on real recordings (scripts/bench_digits.py
--calibrate prints them; the figures behind them are in the module docstrings of the engines).

pocketsphinx: confidence = logistic(SLOPE * (d - CENTRE)), d = (grammar path score - phone
loop score) per speech frame, in pocketsphinx log units (base 1.0001, shifted).
"""

SLOPE = 1.0
CENTRE = -4.0
REJECT_BELOW = 0.2  # below this the reject path fires (text "", in_grammar False)
