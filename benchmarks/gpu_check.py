"""The GPU check: one script to run whenever a GPU machine is lent (about 6 minutes on one H100).

On the small synthetic data, under bf16 on CUDA, it runs
  1. every registered protocol on one task per family (a small ViT at 112 px; pooled-only
     protocols on the pooled tasks; zero-shot, which needs a text tower, is left to its tests),
  2. the linear protocol again into a fresh results folder: the feature cache must serve it
     (no new cache entries, the same metrics),
  3. one `torchrun --nproc_per_node 1` run,
  4. P8 (fine-tune step / raw timm step) and P9 (frozen extraction / raw timm forward),
and prints one table: step, seconds, status, detail. Exit 1 if any step failed.

    python benchmarks/gpu_check.py                 # on the GPU machine
    python benchmarks/gpu_check.py --device cpu --backbone timm:test_vit   # to try the script on a CPU
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TASKS = "celeba,lapa,aflw19,appa_real,rafdb"
POOLED_TASKS = "celeba,appa_real,rafdb"  # for protocols that refuse dense tasks (knn)
BACKBONE = "timm:vit_small_patch16_224"
#: Few epochs and small inputs: the point is that every path runs on the device, not the numbers.
SETTINGS = ["input_size=112", "protocols.frozen.epochs=2", "protocols.finetune.epochs=2",
            "protocols.lora.epochs=2", "protocols.lora.ranks=[4]", "protocols.linear.epochs=5"]


def farl_bench(*args: str, env: dict | None = None, launcher: tuple[str, ...] = ("-m",)) -> tuple[int, str]:
    command = [sys.executable, *launcher, "farl_bench", *args] if launcher == ("-m",) else [*launcher, *args]
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, **(env or {})})
    return done.returncode, done.stdout


def records(results: Path) -> list[dict]:
    path = results / "runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def headline(record: dict) -> float:
    return record["metrics"]["test"][record["headline_metrics"][0]]["value"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--backbone", default=BACKBONE, help="backbone of the protocol steps (P8/P9 keep ViT-B/16)")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    args = parser.parse_args()
    precision = "bf16"
    rows: list[tuple[str, float, str, str]] = []

    def step(name: str, fn) -> None:
        start = time.perf_counter()
        try:
            ok, detail = fn()
        except Exception as err:  # a step's failure is a row of the table, not the end of the check
            ok, detail = False, f"{type(err).__name__}: {err}"
        rows.append((name, time.perf_counter() - start, "ok" if ok else "FAIL", detail))
        print(f"[{name}] {'ok' if ok else 'FAIL'} ({time.perf_counter() - start:.0f} s) {detail}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        data, cache = work / "data", work / "cache"
        common = ["--data-root", str(data), "--device", args.device, "--precision", precision,
                  "--cache-dir", str(cache), "--bootstrap", "100", *(x for s in SETTINGS for x in ("--set", s))]

        def synth():
            rc, out = farl_bench("datasets", "synth", "--out", str(data), "--scale", "small", "--only",
                                 "celeba,lapa,aflw19,appa_real,rafdb")
            return rc == 0, out.strip().splitlines()[-1] if out.strip() else ""

        def protocols():
            from farl_bench.registry import PROTOCOLS

            failed, expected = [], 0
            for name in PROTOCOLS.names():
                protocol = PROTOCOLS.get(name)
                if getattr(protocol, "needs_text_tower", False):
                    continue  # zero-shot needs a CLIP-like backbone: its own tests cover it
                tasks = POOLED_TASKS if getattr(protocol, "pooled_only", False) else TASKS
                expected += len(tasks.split(","))
                rc, out = farl_bench("run", "-b", args.backbone, "-t", tasks, "-p", name,
                                     "--results", str(work / "protocols"), *common)
                if rc != 0:
                    failed.append(f"{name}: exit {rc}: {out[-2000:]}")
            got = records(work / "protocols")
            wrong = [r["key"] for r in got if not str(r["device"]).startswith(args.device) or r["precision"] != precision]
            summary = ", ".join(f"{r['task']}/{r['protocol']} {headline(r):.2f}" for r in got)
            return not failed and not wrong and len(got) == expected, \
                f"{len(got)} of {expected} records: {summary}" + "".join(f"\n{f}" for f in failed)

        def cache_keys() -> list[str]:
            from farl_bench.engine.cache import FeatureStore

            return sorted(e.key for e in FeatureStore(cache).entries())

        def feature_cache():
            before = cache_keys()
            rc, out = farl_bench("run", "-b", args.backbone, "-t", TASKS, "-p", "linear",
                                 "--results", str(work / "cached"), *common)
            after = cache_keys()
            first = {r["task"]: headline(r) for r in records(work / "protocols") if r["protocol"] == "linear"}
            again = {r["task"]: headline(r) for r in records(work / "cached")}
            return (rc == 0 and bool(after) and before == after and first == again,
                    f"{len(after)} cache entries before and after; metrics equal: {first == again}" +
                    ("" if rc == 0 else f"\n{out[-3000:]}"))

        def torchrun():
            launcher = (sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1", "-m", "farl_bench")
            rc, out = farl_bench("run", "-b", args.backbone, "-t", "celeba", "-p", "frozen",
                                 "--results", str(work / "torchrun"), *common, launcher=launcher)
            got = records(work / "torchrun")
            return rc == 0 and len(got) == 1, (f"acc_mean {headline(got[0]):.2f}, processes "
                                               f"{got[0].get('processes')}" if got else out[-3000:])

        def bench(name: str):
            def run():
                done = subprocess.run([sys.executable, str(HERE / name)], cwd=HERE, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True)
                lines = [line for line in done.stdout.splitlines() if line.startswith("P")]
                return done.returncode == 0 and not any(" FAIL" in line for line in lines), \
                    " | ".join(lines) or done.stdout[-2000:]
            return run

        step("synthetic data", synth)
        step("protocols on device", protocols)
        step("feature cache", feature_cache)
        step("torchrun 1 process", torchrun)
        step("P8 fine-tune step", bench("p8_finetune_step.py"))
        step("P9 frozen extraction", bench("p9_frozen_extract.py"))

    print("\n| step | seconds | status | detail |\n|---|---|---|---|")
    for name, seconds, status, detail in rows:
        print(f"| {name} | {seconds:.0f} | {status} | {detail.splitlines()[0] if detail else ''} |")
    return 0 if all(r[2] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
