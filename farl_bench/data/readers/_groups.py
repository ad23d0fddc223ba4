"""Demographic group labels shared by readers (see FaceRecord.groups and meta["groups"])."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: CelebA / LFWA attributes that double as groups for slicing the other attributes: name -> group.
ATTRIBUTE_GROUPS = {"Male": "male", "Young": "young"}
YES_NO = ["yes", "no"]


def attribute_group_values(attribute_names: Sequence[str]) -> dict[str, list[str]]:
    """meta["groups"] of a binary-attribute dataset: the ATTRIBUTE_GROUPS it has, each yes / no."""
    return {group: list(YES_NO) for name, group in ATTRIBUTE_GROUPS.items() if name in attribute_names}


def attribute_groups(attribute_names: Sequence[str], values: np.ndarray) -> dict[str, str]:
    """One face's groups from its (A,) bool attributes: {"male": "yes"|"no", "young": ...}."""
    column = {name: i for i, name in enumerate(attribute_names)}
    return {group: "yes" if values[column[name]] else "no"
            for name, group in ATTRIBUTE_GROUPS.items() if name in column}


def attribute_groups_note(attribute_names: Sequence[str]) -> str:
    used = [name for name in ATTRIBUTE_GROUPS if name in attribute_names]
    if not used:
        return "no Male / Young attribute: no demographic groups, so no per-group slices"
    return (f"groups from the attributes {', '.join(used)} (yes / no); their own scores are still "
            "reported as attributes")
