"""The offline drill: the data plane on an embedded AWS emulator (moto).

``python -m drill`` (see ``drill/cli.py`` or ``--help``) runs both scenarios;
``python -m drill failover | cells | router-region | plan`` runs one
(``router-region`` only on request). Modules:

* ``stack``: the stack's settings and what its program declares (handler
  paths, environments, table and queue names, probe schedule), read from a
  Pulumi mock-engine run (``mock_engine``, shared with the tests);
* ``session``: an offline environment (fake credentials, no ``~/.aws``) and
  the serial moto server (``emulator``);
* ``failover``: the Lex health check and lookup on a simulated clock, with
  Lex simulated at the botocore level (``lex_sim``);
* ``cells``: concurrent sign-ups, scale-out, a new cell, and API requests
  through the Orchestrator on moto's Step Functions interpreter (``sfn``);
* ``router_region``: the cell router in two regions losing its home region
  (``regional_containers``: both regions' handlers in one process;
  ``replication``: the global table emulator; ``router_invariants``);
* ``plan``: the resources a stack declares, per region and component;
* ``report`` and ``plot``: the text a person reads and the optional chart;
* ``faults``: a botocore-level fault injector (AWS errors, throttling,
  cancelled transactions, latency, timeouts; per service, operation and
  region; seeded rates) shared by the drill and the tests.

Every scenario returns a result with its checks; the command exits non-zero
with the reasons when one fails.
"""
