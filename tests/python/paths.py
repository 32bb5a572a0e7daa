"""Where the tests find the repo and the shared reference data: $R1_DATA_DIR,
else the shared/ folder beside the checkout (as laid out for CI)."""
import os

ROOT = os.environ.get("R1_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA_DIR = os.environ.get("R1_DATA_DIR") or os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))


def data_file(relative: str) -> str:
    return os.path.join(DATA_DIR, relative)
