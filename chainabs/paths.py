"""Where things are: the project checkout this package belongs to (deal specs, build output, reports).

Shared by every layer (it imports nothing of ChainABS). With ``pip install -e .`` the package stays in the
checkout, so these are the checkout's folders.
"""

from __future__ import annotations

from pathlib import Path

#: The project checkout (the folder holding ``chainabs/``, ``contracts/``, ``deals/``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Sample deal specs.
DEALS_DIR = PROJECT_ROOT / "deals"
#: Outputs (git-ignored): reports, simulations, bench.json.
REPORTS_DIR = PROJECT_ROOT / "reports"
#: brownie's compiled artifacts.
BUILD_DIR = PROJECT_ROOT / "build"
