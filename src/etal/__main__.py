"""``python -m etal`` runs the command-line interface."""

from etal.cli import main

raise SystemExit(main())
