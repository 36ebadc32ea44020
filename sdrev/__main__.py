"""``python -m sdrev``: the ``sdrev`` command (for subprocesses and environments
where the console script is not on PATH)."""

from sdrev.cli import main

raise SystemExit(main())
