"""Anomaly benchmark: replay events/s on one core against a plain CSV parse loop, and state bytes per home.

`anxin bench anomaly` (or `python bench/anomaly.py [HOMES]`). The measurement lives in `anomaly/bench.py` so the
installed command has it; targets (DESIGN.md section 7): >= 50k events/s per core, <= 32 KB state per home.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from anomaly.bench import run

if __name__ == "__main__":
    for line in run(homes=int(sys.argv[1]) if len(sys.argv) > 1 else 10_000).lines():
        print(line)
