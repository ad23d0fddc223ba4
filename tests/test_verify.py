"""`farl-bench datasets verify` and `list datasets` on whole and damaged trees."""
import shutil

import pytest
from PIL import Image

from farl_bench.data.verify import verify


@pytest.fixture
def lapa_copy(synthetic_root, tmp_path):
    shutil.copytree(synthetic_root / "LaPa", tmp_path / "LaPa")
    return tmp_path / "LaPa"


@pytest.mark.parametrize("name, folder", [("lapa", "LaPa"), ("300w", "300W"), ("wflw", "WFLW"),
                                          ("celeba", "CelebA"), ("rafdb", "RAF-DB"), ("ferplus", "FERPlus"),
                                          ("celebamask_hq", "CelebAMask-HQ")])
def test_a_synthetic_tree_is_sound(synthetic_root, name, folder):
    report = verify(name, synthetic_root / folder, full=True)
    assert report.ok, [c for c in report.checks if c.ok is False]
    assert any(c.name.startswith("size") and c.ok is None for c in report.checks)  # synthetic: informational


def test_missing_and_broken_files_are_listed_exactly(lapa_copy):
    image = next((lapa_copy / "train/images").iterdir())
    image.unlink()
    broken = sorted((lapa_copy / "test/labels").iterdir())[0]
    broken.write_bytes(b"\x89PNG broken")
    report = verify("lapa", lapa_copy, full=True)
    assert not report.ok
    assert report.missing == [image]
    assert len(report.undecodable) == 1 and str(broken) in report.undecodable[0]


def test_every_label_map_of_another_size_than_its_image_is_named_with_both_sizes_without_full(cli, lapa_copy):
    labels = sorted((lapa_copy / "train/labels").iterdir())
    sizes = {}
    for label in (labels[0], labels[-1]):  # wherever a sample would fall: every pair is checked
        with Image.open(label) as img:
            sizes[label] = img.size
            img.resize((img.width, img.height - 4), Image.NEAREST).save(label)
    width, height = sizes[labels[0]]
    image = lapa_copy / "train/images" / f"{labels[0].stem}.jpg"
    report = verify("lapa", lapa_copy, full=False, sample=1)
    assert not report.ok
    assert report.wrong_size[0] == (f"label map {labels[0]} is {width} x {height - 4} px but its image {image} "
                                    f"is {width} x {height} px; LaPa label maps have their image's size: re-extract it")
    assert len(report.wrong_size) == 2 and str(labels[-1]) in report.wrong_size[1]
    code, out, _ = cli("datasets", "verify", "lapa", "--root", lapa_copy)
    assert code == 1 and sum(line.startswith("wrong size: label map") for line in out.splitlines()) == 2


def test_a_celebamask_part_mask_at_the_image_resolution_is_named(synthetic_root, tmp_path):
    root = shutil.copytree(synthetic_root / "CelebAMask-HQ", tmp_path / "CelebAMask-HQ")
    part = sorted((root / "CelebAMask-HQ-mask-anno/0").glob("*_skin.png"))[0]
    with Image.open(root / "CelebA-HQ-img" / f"{int(part.name.split('_')[0])}.jpg") as img:
        full = img.size
    with Image.open(part) as img:
        img.resize(full).save(part)
    report = verify("celebamask_hq", root)
    assert not report.ok and len(report.wrong_size) == 1
    assert f"part mask {part} is {full[0]} x {full[1]} px" in report.wrong_size[0]
    assert f"half their image's side ({full[0] // 2} x {full[1] // 2} px)" in report.wrong_size[0]


def test_verify_cli_exit_codes(cli, lapa_copy):
    code, out, _ = cli("datasets", "verify", "lapa", "--root", lapa_copy)
    assert code == 0 and "annotations" in out
    label = next((lapa_copy / "val/labels").iterdir())
    label.unlink()
    code, out, _ = cli("datasets", "verify", "lapa", "--root", lapa_copy)
    assert code == 1 and "FAIL" in out


def test_unparseable_annotations_fail_with_the_reason(tmp_path):
    report = verify("celeba", tmp_path)
    assert not report.ok and "not found" in report.checks[0].detail


def test_list_datasets_shows_tasks_and_default_root(cli):
    code, out, _ = cli("list", "datasets")
    assert code == 0
    line = next(l for l in out.splitlines() if "affectnet " in l or "│ affectnet" in l)
    assert "affectnet7" in line and "affectnet8" in line and "AffectNet" in line


def test_data_root_comes_from_the_environment(monkeypatch, synthetic_root, tmp_path):
    import importlib

    import farl_bench.cli as cli_module

    monkeypatch.setenv("FARL_BENCH_DATA", str(synthetic_root))
    assert importlib.reload(cli_module).DEFAULT_DATA_ROOT == synthetic_root
    monkeypatch.delenv("FARL_BENCH_DATA")
    importlib.reload(cli_module)
