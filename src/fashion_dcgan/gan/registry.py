"""The GAN objectives, by the name ``model.objective`` uses in params.yaml.

Adding an objective is one module that defines an :class:`~fashion_dcgan.gan.objective.Objective`
subclass, plus one line here. Reading the names imports nothing heavy (the schema checks them).
"""

from __future__ import annotations

import importlib
from typing import Any

OBJECTIVES = {
    "bce": "fashion_dcgan.gan.bce:NonSaturatingBCE",
    "hinge": "fashion_dcgan.gan.hinge:Hinge",
    "r1": "fashion_dcgan.gan.r1:NonSaturatingR1",
}


def objective_class(name: str) -> Any:
    if name not in OBJECTIVES:
        raise KeyError(f"unknown GAN objective {name!r}; registered: {', '.join(OBJECTIVES)}")
    module, _, attribute = OBJECTIVES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def build_objective(name: str, settings: Any) -> Any:
    """The objective ``name`` configured from ``settings`` (the model and train params, read by attribute)."""
    return objective_class(name).from_settings(settings)
