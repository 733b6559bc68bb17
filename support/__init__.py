"""Test support shared by the tests, the drill and the benchmarks.

Emulators and fakes on public APIs, plus one adapter for the private ones:

* ``private_apis``: every private Pulumi or moto API used anywhere (runtime
  state of the mock engine, moto's Lambda invoke, its WSGI app, its Step
  Functions switch), with the versions it was written for; a clear
  ``UnsupportedVersion`` on others;
* ``mock_engine``: the whole Pulumi program under ``pulumi.runtime.Mocks``,
  every resource recorded (``run_program``); ``stack_file``: a
  ``Pulumi.<stack>.yaml`` read as the Pulumi CLI reads it;
* ``emulator``: a moto server serving one request at a time, fake
  credentials, ``scoped_environ``; ``environment``: the drill's offline
  process environment; ``queues``: draining an SQS queue;
* ``sfn``: state machines on moto's Step Functions interpreter with their
  Lambda tasks run in-process; ``faults``: AWS failure modes at the botocore
  level; ``lex_sim``: the Lex V2 runtime simulated at the botocore level;
  ``replication``: a DynamoDB global table emulated over per-region tables;
  ``cell_network``: local TLS stand-ins for cell endpoints;
* ``argtypes``: bounded ``argparse`` types (the drill's and benchmarks' flags).

The drill (``python -m drill``) imports this package; tests import it, never
the drill's scenarios. The Pulumi program and the handlers never import it
(``tests/foundation/test_support_boundary.py``).
"""
