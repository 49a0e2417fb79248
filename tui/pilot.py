"""Driving the app headless (tests, the benchmark, the reliability drill)."""
from __future__ import annotations


async def settle(pilot, rounds: int = 400) -> None:
    """Wait until no worker of the app runs and every message they posted was handled."""
    app = pilot.app
    for _ in range(rounds):
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            await pilot.pause()
            if not any(w.is_running for w in app.workers):
                return
        await app.workers.wait_for_complete()
    raise AssertionError("the workers did not settle")
