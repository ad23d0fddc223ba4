"""The disk feature cache: what makes a hit or a miss, atomic writes, LRU eviction, checksums, refreshing
(`run --force`), `cache ls|clear`."""
from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from farl_bench.backbones import build
from farl_bench.data.readers.celeba import CelebAReader
from farl_bench.engine import cache as cache_module
from farl_bench.engine.cache import FeatureStore
from farl_bench.engine.features import FeatureCache
from farl_bench.engine.precision import FrozenForward
from farl_bench.errors import UserError
from farl_bench.families import get
from farl_bench.tasks import load_task


class Computed(list):
    """A progress factory that remembers which passes ran ("features celeba/train", ...)."""

    def __call__(self, description: str, total: int):
        self.append(description)
        return lambda n: None


def make_cache(root: Path, store: FeatureStore, computed: Computed, data=None, backbone=None, crop=None,
               precision: str = "fp32", family_options: dict | None = None, arrays=None,
               refresh: bool = False) -> FeatureCache:
    data = data or CelebAReader().read(root / "CelebA")
    backbone = backbone or build("pixels?grid=4", input_size=32)
    crop = crop or load_task("celeba").crop
    return FeatureCache(store, FrozenForward(backbone, "cpu", precision), data, crop, get("attributes"),
                        {"family": "attributes", "options": family_options or {}}, batch_size=16,
                        progress=computed, label="celeba", arrays=arrays, refresh=refresh)


def changed_backbone(root: Path) -> dict:
    backbone = build("pixels?grid=4", input_size=32)
    backbone.fingerprint = "0" * 64  # other weights, same everything else
    return {"backbone": backbone}


def changed_preprocess(root: Path) -> dict:
    backbone = build("pixels?grid=4", input_size=32)
    backbone.preprocess = dataclasses.replace(backbone.preprocess, mean=(0.4, 0.5, 0.5))
    return {"backbone": backbone}


def changed_layers(root: Path) -> dict:
    backbone = build("pixels?grid=4", input_size=32)
    backbone.layers = [0]
    return {"backbone": backbone}


def changed_arrays(root: Path) -> dict:
    return {"arrays": ("pooled", "level-1")}


def changed_crop(root: Path) -> dict:
    return {"crop": load_task("celeba").crop.model_copy(update={"zoom": 1.3})}


def changed_precision(root: Path) -> dict:
    return {"precision": "bf16"}


def changed_file_list(root: Path) -> dict:
    data = CelebAReader().read(root / "CelebA")
    data.splits["train"] = data.splits["train"][:-1]
    return {"data": data}


def changed_image_file(root: Path) -> dict:
    data = CelebAReader().read(root / "CelebA")
    image = data.splits["train"][0].image
    os.utime(image, ns=(0, 0))  # same path, another file
    return {"data": data}


KEY_PARTS = {f.__name__.removeprefix("changed_"): f for f in (
    changed_backbone, changed_preprocess, changed_layers, changed_arrays, changed_crop, changed_precision,
    changed_file_list, changed_image_file)}


@pytest.mark.parametrize("part", sorted(KEY_PARTS))
def test_a_change_of_any_key_part_is_a_miss_and_nothing_else_is(part, celeba_root, tmp_path):
    store, computed = FeatureStore(tmp_path / "cache"), Computed()
    train = CelebAReader().read(celeba_root / "CelebA").split("train")
    make_cache(celeba_root, store, computed).get("train", train)
    assert computed == ["features celeba/train"]
    make_cache(celeba_root, store, computed).get("train", train)  # another run, same settings: a hit
    assert computed == ["features celeba/train"]
    changed = make_cache(celeba_root, store, computed, **KEY_PARTS[part](celeba_root))
    changed.get("train", changed.data.split("train"))
    assert computed == ["features celeba/train"] * 2


def test_subsets_of_any_fraction_and_seed_are_rows_of_one_entry(celeba_root, tmp_path):
    store, computed = FeatureStore(tmp_path / "cache"), Computed()
    cache = make_cache(celeba_root, store, computed)
    train = cache.data.split("train")
    full, _ = cache.get("train", train)
    for subset in (train[::3], train[5:9][::-1]):
        x, _ = cache.get("train", subset)
        rows = [train.index(r) for r in subset]
        torch.testing.assert_close(x, full[rows], rtol=0, atol=0)
    assert computed == ["features celeba/train"]
    assert full.dtype == torch.float16 and len(store.entries()) == 1


def test_targets_are_cached_beside_features_and_keyed_by_family_options(celeba_root, tmp_path):
    store, computed = FeatureStore(tmp_path / "cache"), Computed()
    cache = make_cache(celeba_root, store, computed)
    train = cache.data.split("train")
    _, y = cache.get("train", train, targets=True)
    np.testing.assert_array_equal(y.numpy(), np.stack([r.attributes for r in train]))
    make_cache(celeba_root, store, computed).get("train", train, targets=True)
    assert computed == ["features celeba/train"]  # one pass made both, the next run read both
    make_cache(celeba_root, store, computed, family_options={"some": "option"}).get("train", train, targets=True)
    assert computed == ["features celeba/train", "targets celeba/train"]  # features still hit


def test_stored_features_are_the_forward_in_fp16(celeba_root, tmp_path):
    cache = make_cache(celeba_root, FeatureStore(tmp_path / "cache"), Computed())
    records = cache.data.split("val")
    x, _ = cache.get("val", records)
    batch = torch.stack([sample["image"] for sample in _samples(cache, records)])
    with torch.inference_mode():
        expected = cache.forward.backbone(batch, levels=False).pooled
    torch.testing.assert_close(x.float(), expected, rtol=1e-3, atol=1e-3)


def _samples(cache: FeatureCache, records):
    from farl_bench.data.samples import FaceSamples

    samples = FaceSamples(records, cache.data, cache.crop, cache.forward.backbone.preprocess)
    return [samples[i] for i in range(len(samples))]


def test_values_beyond_fp16_range_are_stored_in_fp32(celeba_root, tmp_path):
    backbone = build("pixels?grid=4", input_size=32)
    forward = backbone._forward

    def huge_after_first_batch(x, levels):
        out = forward(x, levels)
        huge_after_first_batch.calls += 1
        return dataclasses.replace(out, pooled=out.pooled * (1e6 if huge_after_first_batch.calls > 1 else 1))
    huge_after_first_batch.calls = 0
    backbone._forward = huge_after_first_batch
    cache = make_cache(celeba_root, FeatureStore(tmp_path / "cache"), Computed(), backbone=backbone)
    x, _ = cache.get("train", cache.data.split("train"))
    assert x.dtype == torch.float32 and torch.isfinite(x).all() and x[16:].abs().max() > 1e5
    assert x[:16].abs().max() < 10  # the first batch, written as fp16 before the overflow, kept


def test_a_failed_pass_leaves_no_entry_and_the_next_run_computes_it(celeba_root, tmp_path):
    store, computed = FeatureStore(tmp_path / "cache"), Computed()
    backbone = build("pixels?grid=4", input_size=32)
    forward = backbone._forward

    def fails_on_third_batch(x, levels):
        fails_on_third_batch.calls += 1
        if fails_on_third_batch.calls == 3:
            raise KeyboardInterrupt
        return forward(x, levels)
    fails_on_third_batch.calls = 0
    backbone._forward = fails_on_third_batch
    cache = make_cache(celeba_root, store, computed, backbone=backbone)
    with pytest.raises(KeyboardInterrupt):
        cache.get("train", cache.data.split("train"))
    assert store.entries() == [] and list((tmp_path / "cache" / "entries").iterdir()) == []
    backbone._forward = forward
    make_cache(celeba_root, store, computed, backbone=backbone).get("train", cache.data.split("train"))
    assert len(store.entries()) == 1


KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from farl_bench.engine.cache import FeatureStore
    store = FeatureStore(sys.argv[1])
    with store.write("k" * 64, 1000, {"kind": "features"}) as writer:
        writer.put("pooled", 0, np.ones((500, 8), np.float32), np.float16)
        os.kill(os.getpid(), signal.SIGKILL)  # killed mid-entry: no cleanup code runs
""")


def test_a_killed_write_is_never_read_and_clear_removes_its_leftovers(tmp_path, cli):
    root = tmp_path / "cache"
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(root)])
    assert done.returncode == -signal.SIGKILL
    leftovers = list((root / "entries").iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".tmp-")
    store = FeatureStore(root)
    assert store.load("k" * 64) is None and store.entries() == []
    code, out, _ = cli("cache", "clear", "--cache-dir", root)
    assert code == 0 and list((root / "entries").iterdir()) == []


def write_entry(store: FeatureStore, key: str, rows: int = 256) -> None:
    with store.write(key, rows, {"kind": "features", "backbone": f"backbone-{key[0]}", "task": "t",
                                 "split": "train"}) as writer:
        writer.put("pooled", 0, np.zeros((rows, 64), np.float32), np.float16)


def test_eviction_removes_the_least_recently_used_entries_first(tmp_path):
    store = FeatureStore(tmp_path / "cache", max_bytes=10**9)
    for key in ("a" * 64, "b" * 64, "c" * 64):
        write_entry(store, key)
    for age, key in ((300, "a"), (200, "b"), (100, "c")):  # written a, b, c in that order
        meta = store.root / "entries" / (key * 64) / "meta.json"
        os.utime(meta, (meta.stat().st_atime - age, meta.stat().st_mtime - age))
    assert store.load("a" * 64) is not None  # a is used again: now b is the least recent
    size = store.entries()[0].size
    store.max_bytes = 3 * size  # room for three: writing a fourth evicts exactly one
    write_entry(store, "d" * 64)
    assert sorted(e.key[0] for e in store.entries()) == ["a", "c", "d"]


def test_an_entry_larger_than_the_cap_is_kept_alone(tmp_path):
    store = FeatureStore(tmp_path / "cache", max_bytes=10)
    write_entry(store, "a" * 64)
    write_entry(store, "b" * 64)
    assert [e.key[0] for e in store.entries()] == ["b"]


def test_cache_ls_lists_entries_and_clear_empties_the_cache(tmp_path, cli):
    store = FeatureStore(tmp_path / "cache")
    write_entry(store, "a" * 64)
    write_entry(store, "b" * 64, rows=10)
    code, out, _ = cli("cache", "ls", "--cache-dir", store.root)
    assert code == 0 and "aaaaaaaaaaaa" in out and "bbbbbbbbbbbb" in out and "2 entries" in out
    assert "backbone-a" in out and "t/train" in out
    code, out, _ = cli("cache", "clear", "--cache-dir", store.root)
    assert code == 0 and "removed 2 entries" in out
    assert store.entries() == []
    code, out, _ = cli("cache", "ls", "--cache-dir", store.root)
    assert code == 0 and "0 entries" in out


def test_a_corrupt_entry_is_a_miss(celeba_root, tmp_path):
    store, computed = FeatureStore(tmp_path / "cache"), Computed()
    cache = make_cache(celeba_root, store, computed)
    cache.get("val", cache.data.split("val"))
    entry = store.entries()[0]
    meta = json.loads((entry.path / "meta.json").read_text())
    (entry.path / "pooled.npy").write_bytes(b"not an array")
    assert store.load(entry.key) is None and meta["rows"] == len(cache.data.split("val"))
    make_cache(celeba_root, store, computed).get("val", cache.data.split("val"))
    assert computed == ["features celeba/val"] * 2


def test_a_full_disk_is_one_clear_error_and_leaves_no_entry(celeba_root, tmp_path, monkeypatch):
    def no_space(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "posix_fallocate", no_space, raising=False)
    store = FeatureStore(tmp_path / "cache")
    cache = make_cache(celeba_root, store, Computed())
    with pytest.raises(UserError, match="no room for .* free space there, or pass --cache-dir"):
        cache.get("val", cache.data.split("val"))
    assert store.entries() == [] and list((tmp_path / "cache" / "entries").iterdir()) == []


def test_a_byte_changed_on_disk_is_one_warning_and_a_miss(tmp_path, caplog):
    store = FeatureStore(tmp_path / "cache")
    values = np.arange(256 * 64, dtype=np.float32).reshape(256, 64)
    with store.write("a" * 64, 256, {"kind": "features"}) as writer:
        writer.put("pooled", 0, values)
    np.testing.assert_array_equal(store.load("a" * 64)["pooled"], values)
    path = store.root / "entries" / ("a" * 64) / "pooled.npy"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1  # one bit of one value: a change no shape or size check sees
    path.write_bytes(data)
    assert (np.load(path) != values).sum() == 1
    assert store.load("a" * 64) is None and store.entries() == []
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "a" * 64 in warnings[0] and "pooled.npy does not match its checksum" in warnings[0]


@pytest.mark.parametrize("size", [0, 1, 4096, 4097, 3 * 4096 + 5])
def test_checksum_is_blake2b_over_the_blake2b_of_each_block(tmp_path, monkeypatch, size):
    monkeypatch.setattr(cache_module, "CHECKSUM_BLOCK", 4096)  # several blocks, hashed on several threads
    data = np.random.default_rng(size).bytes(size)
    (tmp_path / "x.npy").write_bytes(data)
    blocks = [data[i:i + 4096] for i in range(0, max(size, 1), 4096)]
    expected = hashlib.blake2b(b"".join(hashlib.blake2b(b, digest_size=16).digest() for b in blocks), digest_size=16)
    assert cache_module.checksum(tmp_path / "x.npy") == expected.hexdigest()


def test_an_entry_without_checksums_from_an_older_version_is_computed_again(celeba_root, tmp_path, caplog):
    store, computed = FeatureStore(tmp_path / "cache"), Computed()
    cache = make_cache(celeba_root, store, computed)
    cache.get("val", cache.data.split("val"))
    meta_path = store.entries()[0].path / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({k: v for k, v in meta.items() if k != "checksums"}))
    make_cache(celeba_root, store, computed).get("val", cache.data.split("val"))
    assert computed == ["features celeba/val"] * 2
    assert any("no checksums" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "checksums" in store.entries()[0].meta


def test_refresh_computes_each_entry_again_once_and_replaces_it(celeba_root, tmp_path):
    store, computed = FeatureStore(tmp_path / "cache"), Computed()
    val = CelebAReader().read(celeba_root / "CelebA").split("val")
    make_cache(celeba_root, store, computed).get("val", val, targets=True)
    before = {e.key: e.meta["id"] for e in store.entries()}
    refreshed = make_cache(celeba_root, store, computed, refresh=True)
    x, y = refreshed.get("val", val, targets=True)
    x_again, _ = refreshed.get("val", val[:5])  # a second ask in the same run reads what the first made
    assert computed == ["features celeba/val"] * 2 and torch.equal(x_again, x[:5])
    after = {e.key: e.meta["id"] for e in store.entries()}
    assert after.keys() == before.keys() and all(after[k] != before[k] for k in before)
    fresh, fresh_y = make_cache(celeba_root, store, computed).get("val", val, targets=True)
    assert torch.equal(fresh, x) and torch.equal(fresh_y, y) and len(computed) == 2


def test_a_replacing_write_keeps_an_entry_published_by_another_process_meanwhile(tmp_path):
    store = FeatureStore(tmp_path / "cache")
    write_entry(store, "a" * 64)
    stale = store.entry_id("a" * 64)
    with store.write("a" * 64, 4, {"kind": "features"}, replace=stale) as writer:  # `run --force`: replaced
        writer.put("pooled", 0, np.ones((4, 2), np.float32))
    mine = store.entry_id("a" * 64)
    assert mine not in (None, "", stale) and store.load("a" * 64)["pooled"].shape == (4, 2)
    with store.write("a" * 64, 3, {"kind": "features"}, replace=stale) as writer:  # a parallel run's: kept
        writer.put("pooled", 0, np.ones((3, 2), np.float32))
    assert store.entry_id("a" * 64) == mine and store.load("a" * 64)["pooled"].shape == (4, 2)
    assert store.entry_id("b" * 64) is None and len(list((store.root / "entries").iterdir())) == 1
