"""Task families (head, loss, decode, metrics), one module each, registered in FAMILIES."""
from farl_bench.families import attributes  # noqa: F401  (registers)
from farl_bench.families.base import Family, Metric
from farl_bench.registry import FAMILIES


def get(name: str) -> Family:
    """The family registered under `name`, e.g. ``get("attributes")``."""
    return FAMILIES.get(name)()


__all__ = ["Family", "Metric", "get"]
