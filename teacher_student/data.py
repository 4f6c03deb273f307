"""Datasets: inputs, clean teacher outputs and labels, with an xarray/netCDF form."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import xarray as xr


@dataclass(frozen=True, eq=False)
class Data:
    """``n`` samples: inputs ``x`` (n, d), clean outputs ``f_star`` (n,), labels ``y`` (n,).

    ``attrs`` records where the data came from: the spec (JSON), ``d``, ``n``, the seeds and
    ``kind`` (``deep`` for a deep teacher, ``glm`` for its equivalent GLM).
    """

    x: np.ndarray
    f_star: np.ndarray
    y: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def d(self) -> int:
        return self.x.shape[1]

    def head(self, n: int) -> Data:
        """The first ``n`` samples (identical to generating ``n`` samples with the same seed)."""
        return Data(self.x[:n], self.f_star[:n], self.y[:n], {**self.attrs, "n": n})

    def to_xarray(self) -> xr.Dataset:
        """An ``xarray.Dataset`` with dims ``sample`` and ``feature``; lossless through netCDF."""
        import xarray as xr

        attrs = {
            k: (json.dumps(v) if isinstance(v, dict | list) else v) for k, v in self.attrs.items()
        }
        return xr.Dataset(
            {
                "x": (("sample", "feature"), self.x, {"long_name": "input x ~ N(0, I_d)"}),
                "f_star": ("sample", self.f_star, {"long_name": "clean teacher output f*(x)"}),
                "y": ("sample", self.y, {"long_name": "label y through the output channel"}),
            },
            attrs=attrs,
        )

    @classmethod
    def from_xarray(cls, ds: xr.Dataset) -> Data:
        attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in ds.attrs.items()}
        return cls(ds["x"].values, ds["f_star"].values, ds["y"].values, attrs)
