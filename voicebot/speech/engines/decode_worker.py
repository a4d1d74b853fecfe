"""Entry point of a decoder worker process (started by decode_pool._Worker):
`python -m voicebot.speech.engines.decode_worker READ_FD WRITE_FD NUMBER`."""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection


def main(argv: list[str]) -> int:
    from voicebot.speech.engines.decode_pool import worker_main

    read_fd, write_fd = int(argv[0]), int(argv[1])
    worker_main(Connection(read_fd, writable=False), Connection(write_fd, readable=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
