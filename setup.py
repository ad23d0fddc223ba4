"""Packaging beyond pyproject.toml: the built-in task specs (tasks/) and the smoke baseline
(results/baselines/) stay where the repository keeps them and are mapped into the package at build
time, so a wheel carries them (farl_bench/packaged.py finds them either way); the published numbers
(farl_bench/published/*.yaml) ship from where they are."""
from setuptools import find_packages, setup

DATA = {  # package inside the wheel: (folder in the repository, files)
    "farl_bench.builtin_tasks": ("tasks", ["*.yaml"]),
    "farl_bench.baselines": ("results/baselines", ["*.csv"]),
}

#: Data files that live inside a package of the source tree.
IN_PLACE = {"farl_bench.published": ["*.yaml"]}  # the numbers papers report

setup(packages=[*find_packages(include=["farl_bench", "farl_bench.*"]), *DATA],
      package_dir={package: folder for package, (folder, _) in DATA.items()},
      package_data={**{package: files for package, (_, files) in DATA.items()}, **IN_PLACE})
