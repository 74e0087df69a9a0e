import sys

from bench.runner import run

sys.exit(
    0 if all(b["returncode"] == 0 for b in run(sys.argv[1:] or None)["benchmarks"].values()) else 1
)
