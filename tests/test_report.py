"""The report: a self-contained page with the tables and images, rendered by a real browser."""
import base64
import io
import re
import shutil
import subprocess

from pathlib import Path

import numpy as np
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
    # efficiency: lapa f1_mean, rafdb acc and mean_class_acc, wflw nme/auc/fr; examples: lapa, wflw;
    # demographic slices: rafdb (its faces carry groups)
    assert len(pictures) == 9 and all(p.format == "PNG" and min(p.size) > 50 for p in pictures)
    assert "lapa, pixels (linear), budget 1, seed 0" in page and "wflw, pixels (linear), budget 1, seed 0" in page


def test_leaderboard_numbers_carry_their_bootstrap_interval(report):
    from farl_bench.results.leaderboard import long_table
    from farl_bench.results.store import iter_records

    results = report.parent.parent
    long = long_table(iter_records(results), results).set_index(["task", "budget", "subset", "metric"])
    row = long.loc[("lapa", "1", "test", "f1_mean")]
    assert row.ci_low < row.ci_high
    cell = f'<td class="num">{row["mean"]:.2f} <span class="ci">[{row.ci_low:.2f}, {row.ci_high:.2f}]</span></td>'
    assert cell in report.read_text()


def test_plots_are_large_enough_to_print(report):
    efficiency = images(report.read_text())[:6]
    # 6 x 4 in at 150 dpi, give or take the tight bounding box
    assert all(p.width > 800 and p.height > 500 for p in efficiency)


def test_report_needs_no_network(report):
    page = report.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<script" not in page


def headless(browser: str, profile: Path, *args: str) -> list[str]:
    """A headless Chromium command that reaches nothing outside this machine."""
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", *args]


@pytest.mark.skipif(not any(map(shutil.which, BROWSERS)), reason="no headless Chromium installed")
def test_report_renders_in_headless_chromium(report, tmp_path):
    browser = next(filter(None, map(shutil.which, BROWSERS)))
    dom = subprocess.run(headless(browser, tmp_path, "--dump-dom", report.as_uri()), capture_output=True, text=True,
                         timeout=120).stdout
    assert dom.count("<table") >= 5 and dom.count("<td") > 20
    assert len(images(dom)) == 9


@pytest.mark.skipif(not any(map(shutil.which, BROWSERS)), reason="no headless Chromium installed")
def test_report_screenshot_in_headless_chromium_is_not_blank(report, tmp_path):
    browser = next(filter(None, map(shutil.which, BROWSERS)))
    shot = tmp_path / "report.png"
    subprocess.run(headless(browser, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000",
                            report.as_uri()), capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("L"), np.float32)
    assert pixels.shape == (2000, 1280)
    assert pixels.std() > 20 and (pixels < 128).mean() > 0.01  # text, tables and a plot on a white page


def test_report_cli_refuses_an_empty_results_folder(cli, tmp_path):
    code, _, err = cli("report", "--results", tmp_path, "--out", tmp_path / "out")
    assert code == 2 and "no run records" in err and not (tmp_path / "out").exists()


def hand_made(backbone, value, metric="acc_mean", task="celeba", higher=True, **fields):
    """A record as runs.jsonl holds it, without side files."""
    return {"key": f"{backbone}-{task}", "backbone": backbone, "protocol": "linear", "task": task,
            "task_version": "v1", "fraction": 1.0, "seed": 0, "selection_split": "val", "n_train": 10,
            "headline_metrics": [metric],
            "metrics": {"test": {metric: {"value": value, "unit": "%", "higher_is_better": higher}}}, **fields}


HAND_MADE = [hand_made("a", 80.0, weights="random-init"), hand_made("b", 90.0, weights="file " + "0" * 64),
             hand_made("a", 3.0, "nme", "wflw", higher=False), hand_made("b", 4.0, "nme", "wflw", higher=False)]


def write_hand_made(results, records):
    from farl_bench.results.record import RunRecord
    from farl_bench.results.report import write_report
    from farl_bench.results.store import append_record

    for r in records:
        append_record(results, RunRecord.model_validate(r))
    return write_report(results, results / "report").read_text()


def test_report_bolds_the_best_in_the_metrics_direction_and_marks_random_init(tmp_path):
    page = write_hand_made(tmp_path, HAND_MADE)
    leaderboard = page[page.index("<h2>Leaderboard</h2>"):page.index("<h2>Data efficiency</h2>")]
    assert '<th class="num">celeba:acc_mean@1 ↑</th>' in leaderboard
    assert '<th class="num">wflw:nme@1 ↓</th>' in leaderboard
    rows = re.findall(r"<tr>(.*?)</tr>", leaderboard)[1:]
    # a: acc 80 (worse), nme 3 (better); b: acc 90 (better), nme 4 (worse); both rank 1.5, a first by name
    assert rows == ['<td class="text">a (random init)</td><td class="text">linear</td><td class="num">80.00</td>'
                    '<td class="num"><b>3.00</b></td><td class="num">1.50</td>',
                    '<td class="text">b</td><td class="text">linear</td><td class="num"><b>90.00</b></td>'
                    '<td class="num">4.00</td><td class="num">1.50</td>']
    assert "linear: all 2 column(s)" in leaderboard and "a: random init" in page


def test_report_is_the_same_whatever_order_the_records_came_in(tmp_path):
    forward, backward = (write_hand_made(tmp_path / name, records).replace(str(tmp_path / name), "<results>")
                         for name, records in (("forward", HAND_MADE), ("backward", HAND_MADE[::-1])))
    assert forward == backward


def test_error_bars_stop_at_the_ends_of_the_metrics_range():
    from farl_bench.results.plots import clipped_errors, metric_range

    assert metric_range("acc", "%") == (0, 100) and metric_range("eps_error", "fraction") == (0, 1)
    assert metric_range("nme_io", "%") == (0, float("inf")) and metric_range("mae", "years") == (0, float("inf"))
    bars = clipped_errors(np.array([99.0, 1.0, 50.0]), np.array([3.0, 3.0, float("nan")]), 0, 100)
    np.testing.assert_allclose(bars, [[3.0, 1.0, 0.0], [1.0, 3.0, 0.0]])


def test_mask_legend_names_the_classes_shown_with_their_overlay_colours():
    from farl_bench.results.examples import Example
    from farl_bench.results.plots import MASK_COLOURS, mask_legend

    image = np.zeros((4, 4, 3), np.uint8)
    prediction, target = np.array([[0, 2], [2, 0]]), np.array([[0, 1], [5, 0]])
    legend = mask_legend([Example("f", image, prediction, target)], ["background", "skin", "nose"])
    assert legend == [("skin", MASK_COLOURS[1]), ("nose", MASK_COLOURS[2]), ("class 5", MASK_COLOURS[5])]
