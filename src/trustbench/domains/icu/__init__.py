"""ICU quality control: YAIB-format cohorts (MIMIC-III / eICU demos or your own), MEDS import and export,
a synthetic ICU with known risks, reference models, and a per-model quality card."""
