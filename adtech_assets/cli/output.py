"""How the ``adtech`` command reports progress: one timestamped line each."""

import time


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
