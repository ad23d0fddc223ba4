"""Age readers: UTKFace and APPA-REAL on the synthetic tree; FG-NET and MORPH II (no synthetic
writer) on small trees written here. Readers never open images, so images here are empty files."""
import csv
import hashlib
import logging
import shutil
from pathlib import Path

import pytest

from helpers import edit_line
from farl_bench.data.readers.appa_real import AppaRealReader
from farl_bench.data.readers.fgnet import FGNetReader
from farl_bench.data.readers.morph2 import Morph2Reader
from farl_bench.data.readers.utkface import UTKFaceReader
from farl_bench.errors import UserError


def sizes(data) -> dict[str, int]:
    return {k: len(v) for k, v in data.splits.items()}


def touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()


# ---- UTKFace ---------------------------------------------------------------------------------

def test_utkface_ages_come_from_complete_file_names(synthetic_root):
    root = synthetic_root / "UTKFace"
    data = UTKFaceReader().read(root)
    names = [p.name for p in root.iterdir() if p.name.endswith(".jpg")]
    complete = {n: float(n.split("_")[0]) for n in names if len(n.split(".")[0].split("_")) == 4}
    records = [r for split in data.splits.values() for r in split]
    assert {r.id: r.age for r in records} == complete
    assert data.meta["skipped"] == {next(iter(data.meta["skipped"])): len(names) - len(complete)}
    assert all(isinstance(r.age, float) and r.image.is_file() for r in records)


def test_utkface_split_follows_the_published_hash_rule(synthetic_root):
    data = UTKFaceReader().read(synthetic_root / "UTKFace")
    ids = sorted((r.id for split in data.splits.values() for r in split),
                 key=lambda n: hashlib.sha256(f"farl-bench-utkface:{n}".encode()).hexdigest())
    n_val, n_test = round(len(ids) * 0.1), round(len(ids) * 0.2)
    assert {r.id for r in data.split("val")} == set(ids[:n_val])
    assert {r.id for r in data.split("test")} == set(ids[n_val:n_val + n_test])
    assert sizes(data) == {"train": len(ids) - n_val - n_test, "val": n_val, "test": n_test}


def test_utkface_names_missing_a_field_are_warned_counted_and_skipped(tmp_path, caplog):
    touch(tmp_path, *(f"{20 + i}_0_1_2017011617452{i}125.jpg.chip.jpg" for i in range(8)),
          "30_1_2_20170116174525125.jpg",                  # in-the-wild release naming
          "39_1_20170116174525125.jpg.chip.jpg",           # no race field, as in the release
          "61_1_20170109150557335.jpg.chip.jpg", "notes.txt")
    with caplog.at_level(logging.WARNING):
        data = UTKFaceReader().read(tmp_path)
    assert sum(sizes(data).values()) == 9
    assert list(data.meta["skipped"].values()) == [2]
    assert "skipped 2 sample(s)" in caplog.text


def test_utkface_folder_without_labelled_names_is_an_error(tmp_path):
    touch(tmp_path, "face.jpg")
    with pytest.raises(UserError, match="holds no UTKFace image"):
        UTKFaceReader().read(tmp_path)


# ---- APPA-REAL -------------------------------------------------------------------------------

def test_appa_real_reads_apparent_age_mean_and_std(synthetic_root):
    root = synthetic_root / "APPA-REAL"
    data = AppaRealReader().read(root)
    for folder, split in (("train", "train"), ("valid", "val"), ("test", "test")):
        with (root / f"gt_avg_{folder}.csv").open() as fh:
            rows = list(csv.DictReader(fh))
        records = data.split(split)
        assert len(records) == len(rows)
        for record, row in zip(records, rows):
            assert record.id == f"{folder}/{row['file_name']}"
            assert record.age == float(row["apparent_age_avg"]) and record.age_std == float(row["apparent_age_std"])
            assert record.image == root / folder / (row["file_name"] + "_face.jpg") and record.image.is_file()


def test_appa_real_uncropped_option_points_at_the_whole_image(synthetic_root):
    record = AppaRealReader(cropped=False).read(synthetic_root / "APPA-REAL").split("test")[0]
    assert record.image.name == Path(record.id).name and record.image.parent.name == "test"


def test_appa_real_malformed_age_names_file_and_line(synthetic_root, tmp_path):
    root = tmp_path / "APPA-REAL"
    shutil.copytree(synthetic_root / "APPA-REAL", root)
    path = root / "gt_avg_valid.csv"
    lines = path.read_text().splitlines()
    fields = lines[2].split(",")
    fields[2] = "n/a"
    lines[2] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"gt_avg_valid\.csv:3: expected a number in column 'apparent_age_avg'"):
        AppaRealReader().read(root)


def test_appa_real_missing_csv_is_named(synthetic_root, tmp_path):
    root = tmp_path / "APPA-REAL"
    shutil.copytree(synthetic_root / "APPA-REAL", root)
    (root / "gt_avg_test.csv").unlink()
    with pytest.raises(UserError, match=r"gt_avg_test\.csv is missing"):
        AppaRealReader().read(root)


# ---- FG-NET ----------------------------------------------------------------------------------

PEOPLE = [f"{p:03d}" for p in range(1, 11)]


@pytest.fixture
def fgnet_root(tmp_path: Path) -> Path:
    """10 people, 3 images each (one with a letter suffix, one lower-case), plus a stray file."""
    for p in PEOPLE:
        touch(tmp_path / "images", f"{p}A02.JPG", f"{p}A{int(p) + 10}a.JPG", f"{p}a{int(p) + 10}b.jpg")
    touch(tmp_path / "images", "Thumbs.jpg")
    return tmp_path


def person(record) -> str:
    return Path(record.id).name[:3]


def test_fgnet_ages_and_people_from_file_names(fgnet_root):
    data = FGNetReader().read(fgnet_root)
    records = {r.id: r for split in data.splits.values() for r in split}
    assert len(records) == 30 and records["images/004A14a.JPG"].age == 14.0
    assert records["images/004a14b.jpg"].age == 14.0
    assert data.meta["skipped"] == {"file name is not <person>A<age>[a-z].JPG": 1}
    assert data.meta["num_people"] == 10 and data.meta["folds"] == [[p] for p in PEOPLE]


def test_fgnet_fixed_protocol_keeps_each_person_in_one_split(fgnet_root):
    data = FGNetReader().read(fgnet_root)
    people = {split: {person(r) for r in records} for split, records in data.splits.items()}
    assert [len(people[s]) for s in ("train", "val", "test")] == [7, 1, 2]
    assert set().union(*people.values()) == set(PEOPLE)
    ranked = sorted(PEOPLE, key=lambda p: hashlib.sha256(f"farl-bench-fgnet:{p}".encode()).hexdigest())
    assert people["val"] == set(ranked[:1]) and people["test"] == set(ranked[1:3])


def test_fgnet_lopo_holds_out_the_fold_person(fgnet_root):
    for fold in (0, 9):
        data = FGNetReader(protocol="lopo", fold=fold).read(fgnet_root)
        assert {person(r) for r in data.split("test")} == {PEOPLE[fold]}
        others = {person(r) for r in data.split("train")} | {person(r) for r in data.split("val")}
        assert PEOPLE[fold] not in others and len(others) == 9
        assert not {person(r) for r in data.split("val")} & {person(r) for r in data.split("train")}


def test_fgnet_bad_options_are_user_errors(fgnet_root):
    with pytest.raises(UserError, match="fold=10: choose 0..9"):
        FGNetReader(protocol="lopo", fold=10).read(fgnet_root)
    with pytest.raises(UserError, match="protocol='loo'"):
        FGNetReader(protocol="loo")


# ---- MORPH II --------------------------------------------------------------------------------

NONCOMMERCIAL = "id_num,picture_num,dob,doa,race,gender,facial_hair,age,age_diff,glasses,photo"


def write_morph(root: Path, n: int = 20) -> list[tuple[str, int]]:
    rows = [(f"Album2\\{i:06d}_1M{20 + i}.JPG", 20 + i) for i in range(n)]
    lines = [NONCOMMERCIAL] + [f"{i},1,01/01/1970,01/01/{1990 + i},B,M,0,{age},0,0,{path}"
                               for i, (path, age) in enumerate(rows)]
    (root / "morph_2008_nonCommercial.csv").write_text("\n".join(lines) + "\n")
    return rows


def test_morph2_reads_the_noncommercial_csv_and_splits_80_20_with_val(tmp_path):
    rows = write_morph(tmp_path)
    data = Morph2Reader().read(tmp_path)
    assert sizes(data) == {"train": 14, "val": 2, "test": 4}
    ages = {r.id: r.age for split in data.splits.values() for r in split}
    assert ages == {path.replace("\\", "/"): float(age) for path, age in rows}
    record = data.split("test")[0]
    assert record.image == tmp_path / record.id


def test_morph2_plain_csv_with_image_folder_option(tmp_path):
    (tmp_path / "faces").mkdir()
    (tmp_path / "ages.csv").write_text("file,age,gender\na.jpg,31,M\nb.jpg,45,F\nc.jpg,18,F\nd.jpg,60,M\n")
    data = Morph2Reader(csv="ages.csv", images="faces").read(tmp_path)
    records = {r.id: r for split in data.splits.values() for r in split}
    assert records["b.jpg"].age == 45.0 and records["b.jpg"].image == tmp_path / "faces" / "b.jpg"


def test_morph2_csv_without_a_path_column_is_explained(tmp_path):
    (tmp_path / "morph2.csv").write_text("name,age\na.jpg,31\n")
    with pytest.raises(UserError, match=r"morph2\.csv:1: expected a header with an image path column \(photo or"):
        Morph2Reader().read(tmp_path)


def test_morph2_image_listed_twice_is_an_error(tmp_path):
    (tmp_path / "morph2.csv").write_text("file,age\na.jpg,31\nb.jpg,40\na.jpg,32\n")
    with pytest.raises(UserError, match=r"morph2\.csv:4: image a\.jpg is listed twice \(first on line 2\)"):
        Morph2Reader().read(tmp_path)


def test_morph2_missing_csv_lists_the_names_tried(tmp_path):
    with pytest.raises(UserError, match="MORPH II annotation CSV not found.*morph_2008_nonCommercial.csv"):
        Morph2Reader().read(tmp_path)


# ---- group labels --------------------------------------------------------------------------

UTK_RACES = ["white", "black", "asian", "indian", "others"]


def test_utkface_gender_and_race_codes_of_the_name_are_groups(synthetic_root):
    data = UTKFaceReader().read(synthetic_root / "UTKFace")
    assert data.meta["groups"] == {"gender": ["male", "female"], "race": UTK_RACES}
    for record in (r for split in data.splits.values() for r in split):
        _, gender, race, _ = Path(record.id).name.split("_")
        assert record.groups == {"gender": ["male", "female"][int(gender)], "race": UTK_RACES[int(race)]}


def test_appa_real_groups_come_from_allcategories(synthetic_root):
    root = synthetic_root / "APPA-REAL"
    data = AppaRealReader().read(root)
    assert data.meta["groups"] == {"gender": ["male", "female"], "race": ["asian", "afroamerican", "caucasian"]}
    for folder, split in (("train", "train"), ("valid", "val"), ("test", "test")):
        with (root / f"allcategories_{folder}.csv").open() as fh:
            expected = {f"{folder}/{row['file']}": {"gender": row["gender"], "race": row["race"]}
                        for row in csv.DictReader(fh)}
        assert {r.id: r.groups for r in data.split(split)} == expected


def test_appa_real_allcategories_in_their_own_folder_with_release_spelling(synthetic_root, tmp_path):
    root = tmp_path / "APPA-REAL"
    shutil.copytree(synthetic_root / "APPA-REAL", root)
    (root / "allcategories_trainvalidtest_split").mkdir()
    for folder in ("train", "valid", "test"):
        file = f"allcategories_{folder}.csv"
        (root / file).rename(root / "allcategories_trainvalidtest_split" / file)
    path = root / "allcategories_trainvalidtest_split/allcategories_test.csv"
    name = path.read_text().splitlines()[1].split(",")[0]
    edit_line(path, 1, lambda line: f"{name},Female,Afro-American,makeup,modernphoto,happy")
    record = next(r for r in AppaRealReader().read(root).split("test") if r.id == f"test/{name}")
    assert record.groups == {"gender": "female", "race": "afroamerican"}


def test_appa_real_without_allcategories_has_no_groups_and_says_so(synthetic_root, tmp_path):
    root = tmp_path / "APPA-REAL"
    shutil.copytree(synthetic_root / "APPA-REAL", root)
    for path in root.glob("allcategories_*.csv"):
        path.unlink()
    data = AppaRealReader().read(root)
    assert data.meta["groups"] == {} and "absent" in data.meta["groups_note"]
    assert all(r.groups == {} for split in data.splits.values() for r in split)


def test_appa_real_unknown_race_and_missing_file_are_named(synthetic_root, tmp_path):
    root = tmp_path / "APPA-REAL"
    shutil.copytree(synthetic_root / "APPA-REAL", root)
    path = root / "allcategories_valid.csv"
    edit_line(path, 2, lambda line: line.split(",")[0] + ",male,martian,nomakeup,modernphoto,neutral")
    with pytest.raises(UserError, match=r"allcategories_valid\.csv:3: expected race one of asian"):
        AppaRealReader().read(root)
    path.unlink()
    with pytest.raises(UserError, match=r"allcategories_valid\.csv missing beside"):
        AppaRealReader().read(root)
