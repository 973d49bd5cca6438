"""`python -m mailgraph` runs the command line."""

from mailgraph.cli import main

raise SystemExit(main())
