"""Task families (head, loss, decode, metrics), one module each, registered in FAMILIES."""
from farl_bench.families import age, attributes, demographics, expression, landmarks, parsing  # noqa: F401  (registers)
from farl_bench.families.base import Family, Metric
from farl_bench.registry import FAMILIES


def get(name: str, **options) -> Family:
    """The family registered under `name`, e.g. ``get("attributes")``; options as in a task's family_options."""
    return FAMILIES.get(name)(**options)


__all__ = ["Family", "Metric", "get"]
