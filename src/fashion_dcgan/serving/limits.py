"""What one request to `fashion-dcgan serve` may ask and how long it may take, from a measured speed."""

from __future__ import annotations

import math
from dataclasses import dataclass

from fashion_dcgan.serving.pyfunc import MAX_IMAGES

# Two requests at once keep both cores busy: one generates (on every core) while the other writes its JSON
# (which holds the GIL); a third would only wait.
MAX_IN_FLIGHT = 2
# MLflow's scoring timeout (MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT's default), enforced by the guard.
TIMEOUT_S = 60.0
# Measured through this server on 2 bfloat16 CPU cores (benchmarks/load_test.py, docs/benchmarks.md); the
# figure for a guard built without a measurement (tests). `fashion-dcgan serve` measures its own.
SECONDS_PER_IMAGE = 0.0009
# A maximal request must finish within this share of the timeout while every slot holds one; the rest is
# headroom for a machine that gets busier after start-up.
TIMEOUT_SHARE = 0.5


@dataclass(frozen=True)
class Limits:
    """What one request may ask and how long it may take, with the measurement they come from."""

    max_images: int
    max_in_flight: int = MAX_IN_FLIGHT
    timeout_s: float = TIMEOUT_S
    seconds_per_image: float = SECONDS_PER_IMAGE

    @classmethod
    def for_speed(cls, seconds_per_image: float, timeout_s: float = TIMEOUT_S, max_in_flight: int = MAX_IN_FLIGHT):
        """The largest request (at most :data:`MAX_IMAGES`) that finishes within TIMEOUT_SHARE of
        ``timeout_s`` when ``max_in_flight`` such requests share the machine."""
        fits = math.floor(TIMEOUT_SHARE * timeout_s / (seconds_per_image * max_in_flight))
        return cls(max(1, min(MAX_IMAGES, fits)), max_in_flight, timeout_s, seconds_per_image)

    @property
    def slowest_s(self) -> float:
        """The expected time of a maximal request with every slot busy."""
        return self.max_images * self.seconds_per_image * self.max_in_flight

    def describe(self) -> str:
        return (
            f"up to {self.max_images:,} images a request, {self.max_in_flight} at once "
            f"({self.seconds_per_image * 1000:.2f} ms an image measured here; a maximal request with every slot "
            f"busy takes about {self.slowest_s:.0f} s of the {self.timeout_s:.0f} s timeout)"
        )
