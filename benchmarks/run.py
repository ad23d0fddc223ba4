"""`make perf`: every benchmark in its own process (fresh memory, no state shared), one after the
other; exits 1 when any prints FAIL."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = sorted(HERE.glob("p[0-9]*_*.py"), key=lambda p: int(p.name[1:].split("_")[0]))  # p2 before p10


def main() -> int:
    only = sys.argv[1:]  # e.g. `run.py p1 p7`
    failed = False
    print(f"# {len(BENCHMARKS)} benchmarks on {os.cpu_count()} CPUs; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    for path in BENCHMARKS:
        if only and not any(path.name.startswith(name + "_") for name in only):
            continue
        start = time.perf_counter()
        done = subprocess.run([sys.executable, str(path)], cwd=HERE, stdout=subprocess.PIPE, text=True)
        sys.stdout.write(done.stdout)
        if done.returncode != 0:
            print(f"{path.stem} crashed (exit {done.returncode})", flush=True)
        failed |= done.returncode != 0 or " FAIL" in done.stdout
        print(f"# {path.stem}: {time.perf_counter() - start:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
