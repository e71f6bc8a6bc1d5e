"""Head models: an EEG forward model that needs no download (a three-shell spherical conductor, a
montage shipped with MNE, a volume source space inside the brain sphere), or the user's own MNE
``Forward`` (fsaverage, the New York Head, a subject's BEM).

Data and gain are **average-referenced** here (Y = P L x + P n with P = I - 11ᵀ/m): that is what an
EEG analysis works with, and MNE's inverse solvers require the average-reference projector.

References
----------
Berg P, Scherg M (1994). A fast method for forward computation of multiple-shell spherical head
models. Electroencephalogr Clin Neurophysiol 90, 58-64 (the sphere model MNE computes).
Gramfort A et al. (2013). MEG and EEG data analysis with MNE-Python. Front Neurosci 7, 267.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.validation import check_choice, check_positive

__all__ = ["HeadModel", "sphere_head", "head_from_forward", "check_sphere_settings", "average_reference"]


def average_reference(m: int) -> np.ndarray:
    """The average-reference projector P = I - 11ᵀ/m."""
    return np.eye(m) - 1.0 / m


@dataclass(frozen=True, eq=False)
class HeadModel:
    """A forward model in the arrays the solvers need, plus the MNE objects MNE's solvers need.

    Parameters
    ----------
    gain : (m, n * n_orient) average-referenced lead field, V per A·m; the n_orient components of a
        source are adjacent (column ``n_orient * i + o``).
    positions : (n, 3) source positions in metres (head coordinates).
    n_orient : 3 for free orientation (volume source spaces), 1 for fixed (cortical normals).
    forward, info : the ``mne.Forward`` and the ``mne.Info`` carrying the montage and the
        average-reference projector.
    name : a short description (montage, spacing) for reports.
    """

    gain: np.ndarray
    positions: np.ndarray
    n_orient: int
    forward: Any
    info: Any
    name: str

    @property
    def n_channels(self) -> int:
        return self.gain.shape[0]

    @property
    def n_sources(self) -> int:
        return len(self.positions)

    @property
    def ch_names(self) -> list[str]:
        return list(self.info["ch_names"])

    def mne_covariance(self, cov: np.ndarray, nfree: int = 1):
        """``cov`` (m, m), a noise or a data covariance, as an ``mne.Covariance`` on this head's
        channels (with its projector)."""
        import mne

        return mne.Covariance(np.asarray(cov, dtype=float), self.ch_names, [], self.info["projs"], nfree=nfree)

    def evoked(self, data: np.ndarray):
        """(m, T) data as an ``mne.EvokedArray`` with the average-reference projector (the solvers
        here do not use time, so the sampling rate is nominal)."""
        import mne

        return mne.EvokedArray(np.asarray(data, dtype=float), self.info.copy(), tmin=0.0, nave=1, verbose=False)


def _builtin_montages() -> list[str]:
    import mne

    return list(mne.channels.get_builtin_montages())


def _eeg_info(ch_names: list[str], montage) -> Any:
    """An EEG ``Info`` with the montage and an average-reference projector."""
    import mne

    info = mne.create_info(ch_names, 100.0, "eeg")
    info.set_montage(montage, verbose=False)
    raw = mne.io.RawArray(np.zeros((len(ch_names), 2)), info, verbose=False)
    raw.set_eeg_reference(projection=True, verbose=False)
    return raw.info


def check_sphere_settings(montage: str, spacing: float) -> float:
    """Validate :func:`sphere_head`'s arguments (before any work); return the spacing as a float."""
    check_choice(montage, "montage", _builtin_montages())
    spacing = float(check_positive(spacing, "spacing"))
    if not 3.0 <= spacing <= 40.0:
        raise ValueError(f"spacing must be between 3 and 40 mm; got {spacing}.")
    return spacing


@functools.lru_cache(maxsize=8)
def sphere_head(montage: str = "biosemi64", spacing: float = 15.0, *, mindist: float = 5.0) -> HeadModel:
    """The offline head model: a 3-shell sphere fitted to the montage's head points, and a volume
    source grid of ``spacing`` mm inside its inner (brain) sphere.

    ``montage`` is any montage shipped with MNE (``mne.channels.get_builtin_montages()``): e.g.
    ``"biosemi32"``, ``"biosemi64"``, ``"colin27_1020"`` (94 channels), ``"easycap-M1"``. At 15 mm
    the grid has 647 sources (1941 dipole components); the model takes < 1 s and is cached.
    """
    import mne

    spacing = check_sphere_settings(montage, spacing)
    mont = mne.channels.make_standard_montage(montage)
    info = _eeg_info(mont.ch_names, mont)
    sphere = mne.make_sphere_model(r0="auto", head_radius="auto", info=info, verbose=False)
    src = mne.setup_volume_source_space(sphere=sphere, pos=spacing, mindist=mindist, verbose=False)
    fwd = mne.make_forward_solution(info, trans=None, src=src, bem=sphere, eeg=True, meg=False, verbose=False)
    return _head(fwd, info, f"sphere, {montage} ({len(mont.ch_names)} ch), {spacing:g} mm grid")


def head_from_forward(forward: Any, name: str = "user forward") -> HeadModel:
    """A head model from the user's own ``mne.Forward`` (or the path of a ``-fwd.fif`` file): EEG
    channels only, free orientation kept as given, fixed orientation as n_orient = 1."""
    import mne

    if isinstance(forward, str) or hasattr(forward, "__fspath__"):
        forward = mne.read_forward_solution(forward, verbose=False)
    if not isinstance(forward, mne.Forward):
        raise TypeError(f"forward must be an mne.Forward or the path of a -fwd.fif file; got {type(forward).__name__}.")
    fwd = mne.pick_types_forward(forward, meg=False, eeg=True)
    if fwd["nchan"] == 0:
        raise ValueError("forward has no EEG channels; trustbench's eeg benchmark needs an EEG forward model.")
    picks = mne.pick_types(fwd["info"], meg=False, eeg=True)
    info = _eeg_info([fwd["info"]["ch_names"][i] for i in picks],
                     mne.channels.make_dig_montage({fwd["info"]["ch_names"][i]: fwd["info"]["chs"][i]["loc"][:3]
                                                    for i in picks}, coord_frame="head"))
    return _head(fwd, info, name)


def _head(fwd, info, name: str) -> HeadModel:
    gain = np.asarray(fwd["sol"]["data"], dtype=float)
    n_orient = 1 if fwd["source_ori"] == 1 and gain.shape[1] == fwd["nsource"] else 3  # FIFFV_MNE_FIXED_ORI = 1
    gain = average_reference(gain.shape[0]) @ gain
    gain.setflags(write=False)
    positions = np.asarray(fwd["source_rr"], dtype=float)
    positions.setflags(write=False)
    return HeadModel(gain=gain, positions=positions, n_orient=n_orient, forward=fwd, info=info, name=name)
