"""A wheel built from the repository carries the built-in task specs and the smoke baseline, and an
install of it finds them from any working folder. Built offline from a copy of the sources, so the
checkout gets no build/ or egg-info."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "farl_bench", "tasks", "results/baselines"]


def _pip(*args: object) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *map(str, args),
                    "--no-deps", "--no-index", "-q"], check=True, timeout=120)


def test_wheel_carries_the_task_specs_and_the_baseline_and_its_install_finds_them(tmp_path: Path) -> None:
    source = tmp_path / "source"
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / name, source / name)
    _pip("wheel", "--no-build-isolation", "-w", tmp_path / "dist", source)
    [wheel] = (tmp_path / "dist").glob("farl_bench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    tasks = sorted(p.name for p in (REPO / "tasks").glob("*.yaml"))
    assert tasks and {f"farl_bench/builtin_tasks/{t}" for t in tasks} <= names
    assert "farl_bench/baselines/synthetic-smoke.csv" in names
    published = sorted(p.name for p in (REPO / "farl_bench/published").glob("*.yaml"))
    assert "farl.yaml" in published and {f"farl_bench/published/{p}" for p in published} <= names

    site = tmp_path / "site"
    _pip("install", "--target", site, wheel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    check = ("import farl_bench, farl_bench.smoke as smoke, farl_bench.tasks as tasks, farl_bench.published as pub\n"
             "print(farl_bench.__file__, tasks.BUILTIN_TASKS_DIR, smoke.BASELINE, tasks.load_task('lapa').family,"
             " len(tasks.task_names()), smoke.BASELINE.read_bytes() == open(sys.argv[1], 'rb').read(),"
             " len(pub.load_published()), sep='\\n')")
    env = {**os.environ, "PYTHONPATH": str(site)}  # found before the editable install of this checkout
    env.pop("FARL_BENCH_TASKS", None)
    out = subprocess.run([sys.executable, "-c", f"import sys\n{check}", REPO / "results/baselines/synthetic-smoke.csv"],
                         cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    package, tasks_dir, baseline, family, count, same, n_published = out.stdout.split("\n")[:7]
    assert Path(package).parent == site / "farl_bench"
    assert Path(tasks_dir) == site / "farl_bench/builtin_tasks" and Path(baseline).parent == site / "farl_bench/baselines"
    assert (family, int(count), same) == ("parsing", len(tasks), "True")
    from farl_bench.published import load_published

    assert int(n_published) == len(load_published())  # every YAML shipped, read from the install
