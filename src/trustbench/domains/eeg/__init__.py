"""M/EEG source imaging and ICA stability: a spherical head model that works offline, simulations
with ground-truth sources in the spirit of Haufe & Ewald (2019), inverse solvers with and without
calibrated uncertainty, and a stability tool for ICA decompositions. See README.md here."""
