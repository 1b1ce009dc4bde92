"""The GAN objectives, by the name ``model.objective`` uses in params.yaml.

Adding an objective is one module that defines an :class:`~fashion_dcgan.gan.objective.Objective`
subclass, one line here, and the class of its settings in ``config.py`` (a test checks that the
names agree). Only training imports this module.
"""

from __future__ import annotations

import importlib
from typing import Any

OBJECTIVES = {
    "bce": "fashion_dcgan.gan.bce:NonSaturatingBCE",
    "hinge": "fashion_dcgan.gan.hinge:Hinge",
    "r1": "fashion_dcgan.gan.r1:NonSaturatingR1",
    "wgan_gp": "fashion_dcgan.gan.wgan_gp:WassersteinGP",
}


def objective_class(name: str) -> Any:
    if name not in OBJECTIVES:
        raise KeyError(f"unknown GAN objective {name!r}; registered: {', '.join(OBJECTIVES)}")
    module, _, attribute = OBJECTIVES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def build_objective(settings: Any, seed: int) -> Any:
    """The objective that ``settings`` (the ``model.objective`` section) names, configured from it."""
    return objective_class(settings.name).from_settings(settings, seed)
