"""Speech path: 8 kHz phone audio, endpointing, offline recognition and speech out."""
