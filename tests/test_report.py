"""The report: a self-contained page with the tables and images, rendered by a real browser."""
import base64
import io
import re
import shutil
import subprocess

import pytest
from PIL import Image

FAST = ["--set", "input_size=32", "--set", "protocols.linear.epochs=3", "--set", "protocols.linear.lrs=[0.01]",
        "--set", "protocols.linear.weight_decays=[0.0]"]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


@pytest.fixture(scope="module")
def report(synthetic_root, tmp_path_factory):
    """A report of pixels on a parsing, an alignment and an expression task, two budgets."""
    from farl_bench.engine.runner import RunOptions, run_cells
    from farl_bench.plan import expand
    from farl_bench.results.report import write_report
    from farl_bench.tasks import parse_overrides

    results = tmp_path_factory.mktemp("results")
    cells = expand(["pixels"], ["lapa", "wflw", "rafdb"], ["linear"], [0.5, 1.0], seeds=[0, 1])
    run_cells(cells, RunOptions(synthetic_root, results, parse_overrides(FAST[1::2]), bootstrap=50),
              lambda d, n: (lambda k: None))
    return write_report(results, results / "report")


def images(page: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(data)))
            for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_report_holds_the_tables_plots_and_examples(report):
    page = report.read_text()
    for section in ("Leaderboard", "Data efficiency", "Per test subset", "Per class", "Example predictions"):
        assert f"<h2>{section}</h2>" in page
    assert page.count("<table") >= 5  # leaderboard, wflw subsets, lapa and rafdb classes, intervals
    pictures = images(page)
    # efficiency: lapa f1_mean, rafdb acc and mean_class_acc, wflw nme/auc/fr; examples: lapa, wflw
    assert len(pictures) == 8 and all(p.format == "PNG" and min(p.size) > 50 for p in pictures)
    assert "lapa, pixels (linear), budget 1, seed 0" in page and "wflw, pixels (linear), budget 1, seed 0" in page


def test_report_needs_no_network(report):
    page = report.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<script" not in page


@pytest.mark.skipif(not any(map(shutil.which, BROWSERS)), reason="no headless Chromium installed")
def test_report_renders_in_headless_chromium(report, tmp_path):
    browser = next(filter(None, map(shutil.which, BROWSERS)))
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path}",
                          "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<table") >= 5 and dom.count("<td") > 20
    assert len(images(dom)) == 8


def test_report_cli_refuses_an_empty_results_folder(cli, tmp_path):
    code, _, err = cli("report", "--results", tmp_path, "--out", tmp_path / "out")
    assert code == 2 and "no run records" in err and not (tmp_path / "out").exists()
