"""Simulation-based inference: priors, posterior tasks, posterior estimators and reference posteriors."""
