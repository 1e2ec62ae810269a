"""A verify script run beside the running bot costs it no refused call (issue 11, #2).

The docs tell a user to run scripts/verify_*.py when something looks wrong; the script uses the same keys
and the same nonce files as the running bot. Both are real processes here, against the simulator this
test serves, which refuses any nonce not above the key's last (as Kraken does).
"""

from __future__ import annotations

import signal

from bot.sim.standalone import wait_for
from scripts.benchmarks._live_harness import LiveExchange


def test_verify_beside_the_running_bot_gives_zero_invalid_nonces(live_exchange: LiveExchange) -> None:
    live = live_exchange
    bot = live.start_bot()
    bot.wait_for_text(r"thread started", 90)
    for _ in range(2):
        result = live.run_script("verify_kraken_trading_enabled.py", "--running")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Invalid nonce" not in result.stdout + result.stderr
    calls = {name: live.private_calls(name) for name in live.credentials}
    wait_for(lambda: all(live.private_calls(name) >= calls[name] + 3 for name in calls), 60,
             "every account's next private calls", alive=lambda: bot.alive)  # each key used again by the bot
    assert live.invalid_nonces == 0, live.rejected
    bot.send(signal.SIGTERM)
    assert bot.wait_exit(30) == 0
    assert "Invalid nonce" not in bot.text()
