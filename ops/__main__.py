"""``python -m ops``: see ``ops/cli.py`` or ``python -m ops --help``."""

from ops.cli import main

raise SystemExit(main())
