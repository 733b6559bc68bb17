"""How long a test waits for a subprocess before calling it hung.

A hang guard, not a speed check: it only has to tell "stuck" from "slow".
On a shared two-core machine under load, ``bench/failover_sim.py``'s
edge-of-range run (55 s of CPU) took 9 minutes of wall clock, so anything
near a run's usual duration makes the test depend on the machine's speed.
"""

HANG_GUARD_SECONDS = 3600.0
