"""Haemodynamics: arterial pulse waves (central and radial pressure, PPG) from seven cardiovascular
parameters, by a Windkessel (3- or 4-element) and a branched transmission-line model.

Modules: ``simulators`` (parameters and prior, cardiac inflow, Windkessel and wave-propagation
models, measurement model). The ground truth of every waveform is the parameter vector θ that made it.
"""

__all__: list[str] = []
