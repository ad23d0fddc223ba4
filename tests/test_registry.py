import pytest

from farl_bench.errors import UserError
from farl_bench.registry import BACKBONES, DATASETS, FAMILIES, PROTOCOLS, Registry


def make_registry() -> Registry:
    return Registry("widget", "farl_bench.errors")  # any importable module stands in for the built-ins


def test_register_get_and_list_in_sorted_order():
    reg = make_registry()
    reg.register("zeta")(1)
    reg.register("alpha")(2)
    assert reg.get("alpha") == 2 and reg.names() == ["alpha", "zeta"] and "zeta" in reg


def test_unknown_name_suggests_close_matches():
    reg = make_registry()
    reg.register("resnet")(1)
    with pytest.raises(UserError, match=r"unknown widget 'resnt'\. Did you mean resnet\?"):
        reg.get("resnt")


def test_registering_another_object_under_a_taken_name_fails():
    reg = make_registry()
    reg.register("a")(1)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a")(2)


def test_entry_point_plugins_are_registered(monkeypatch):
    class FakeEntryPoint:
        name = "plugged"

        def load(self):
            return "the plug-in"

    monkeypatch.setattr("farl_bench.registry.entry_points",
                        lambda group: [FakeEntryPoint()] if group == "farl_bench.widgets" else [])
    reg = Registry("widget", "farl_bench.errors", "farl_bench.widgets")
    assert reg.get("plugged") == "the plug-in"


def test_builtins_are_registered():
    assert "celeba" in DATASETS and "attributes" in FAMILIES
    assert {"timm", "pixels"} <= set(BACKBONES.names()) and "linear" in PROTOCOLS
