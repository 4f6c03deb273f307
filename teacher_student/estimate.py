"""A measured value with its standard error, the one such pair of the project (teacher
measurements, posterior averages, evidence estimates, extrapolations to d -> infinity)."""

from typing import NamedTuple


class Estimate(NamedTuple):
    """``value +- se``: an estimate and its standard error (NaN where none is defined)."""

    value: float
    se: float
