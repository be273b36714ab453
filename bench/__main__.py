"""``python -m bench``: run the benchmarks and write bench/RESULTS.md and the plots."""

from __future__ import annotations

import sys

from bench.runner import main

sys.exit(main())
