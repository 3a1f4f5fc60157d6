"""Make the kit's sample providers importable by the tests of this directory."""

from __future__ import annotations

import sys
from pathlib import Path

SAMPLES = Path(__file__).parent / "samples"
if str(SAMPLES) not in sys.path:
    sys.path.insert(0, str(SAMPLES))
