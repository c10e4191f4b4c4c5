"""`python -m workbench` is the `workbench` command."""

import sys

from workbench.run.cli import main

sys.exit(main())
