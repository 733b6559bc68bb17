"""``python -m drill``: see ``drill/cli.py`` or ``python -m drill --help``."""

from drill.cli import main

raise SystemExit(main())
