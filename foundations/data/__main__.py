"""``python -m foundations.data list|fetch|verify ...``: the datasets' command line (Lesson 8)."""

import sys

from foundations.data.cli import main

sys.exit(main())
