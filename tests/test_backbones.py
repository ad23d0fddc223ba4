import os
import pickle

import pytest
import timm
import torch

from farl_bench.backbones import build, parse_spec
from farl_bench.errors import UserError


def test_spec_strings_are_canonical():
    spec = parse_spec("timm:resnet18?layers=1,2&img_size=64")
    assert (spec.kind, spec.target) == ("timm", "resnet18")
    assert str(spec) == "timm:resnet18?img_size=64&layers=1,2"
    assert str(parse_spec("pixels")) == "pixels"


def test_timm_pooled_features_equal_timms_own_forward():
    backbone = build("timm:resnet18", input_size=64)
    torch.manual_seed(0)
    reference = timm.create_model("resnet18", pretrained=False, num_classes=0).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ours = backbone(x)
        torch.testing.assert_close(ours.pooled, reference(x))
    spec = backbone.feature_spec
    assert (spec.channels, spec.strides, spec.pooled_dim) == ((64, 128, 256, 512), (4, 8, 16, 32), 512)


def test_vit_takes_the_task_input_size_and_gives_patch_maps():
    backbone = build("timm:vit_tiny_patch16_224?layers=3,5,7,11", input_size=64)
    feats = backbone(torch.zeros(1, 3, 64, 64))
    assert [tuple(f.shape) for f in feats.levels] == [(1, 192, 4, 4)] * 4
    assert backbone.preprocess.input_size == 64


def test_random_init_is_repeatable_and_fingerprinted_by_spec():
    a, b = build("timm:resnet18", 64), build("timm:resnet18", 64)
    assert a.fingerprint == b.fingerprint != build("timm:resnet34", 64).fingerprint
    torch.testing.assert_close(next(a.parameters()), next(b.parameters()))


def test_weights_file_is_loaded_and_fingerprinted_by_its_bytes(tmp_path):
    model = timm.create_model("resnet18", pretrained=False, num_classes=0)
    torch.nn.init.constant_(model.conv1.weight, 0.5)
    path = tmp_path / "w.pth"
    torch.save({"state_dict": model.state_dict()}, path)
    backbone = build(f"timm:resnet18?weights={path}", 64)
    assert torch.all(backbone.model.conv1.weight == 0.5)
    assert backbone.fingerprint != build("timm:resnet18", 64).fingerprint


def test_pickle_that_runs_code_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"state_dict": Payload()}))
    with pytest.raises(UserError, match="refused"):
        build(f"timm:resnet18?weights={path}")
    assert not marker.exists()


def test_weights_for_another_architecture_name_the_keys(tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(UserError, match="does not fit timm:resnet18: missing keys"):
        build(f"timm:resnet18?weights={path}")


@pytest.mark.parametrize("spec, message", [
    ("timm:resnet181", "timm has no model 'resnet181'. Did you mean"),
    ("timm:resnet18?wieghts=x", "unknown option"),
    ("pixels?grid=big", "grid must be an integer"),
    ("nope:thing", "unknown backbone kind 'nope'"),
])
def test_bad_specs_are_one_clear_error(spec, message):
    with pytest.raises(UserError, match=message):
        build(spec)


def test_pixels_pools_the_image_to_a_grid():
    backbone = build("pixels?grid=2", input_size=8)
    x = torch.arange(64.0).reshape(1, 1, 8, 8).repeat(1, 3, 1, 1)
    pooled = backbone(x).pooled.reshape(3, 2, 2)
    assert pooled[0, 0, 0] == x[0, 0, :4, :4].mean() and pooled[2, 1, 1] == x[0, 0, 4:, 4:].mean()


def test_hog_features_are_scikit_images_on_the_grey_image():
    from skimage.feature import hog

    backbone = build("hog?cell=4&bins=6", input_size=16)
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    features = backbone(x)
    grey = (0.299 * x[1, 0] + 0.587 * x[1, 1] + 0.114 * x[1, 2]).numpy()
    expected = hog(grey, orientations=6, pixels_per_cell=(4, 4), cells_per_block=(2, 2), block_norm="L2-Hys")
    assert torch.allclose(features.pooled[1], torch.from_numpy(expected).float(), atol=1e-5)
    # the map keeps the block grid: 3 x 3 blocks of 2 x 2 cells x 6 bins at stride 4
    assert features.levels[0].shape == (2, 24, 3, 3)
    assert backbone.feature_spec.pooled_dim == 9 * 24


@pytest.mark.parametrize("spec, message", [
    ("hog?cell=x", "integers"), ("hog?size=3", "takes only"), ("hog?cell=40", "at least two cells")])
def test_bad_hog_specs_are_one_clear_error(spec, message):
    with pytest.raises(UserError, match=message):
        build(spec)
