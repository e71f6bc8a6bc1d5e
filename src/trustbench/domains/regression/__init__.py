"""Low-dimensional regression with a computable Bayesian reference (see README.md in this folder).

Modules: ``tasks`` (seven reference problems), ``reference`` (exact conjugate and NUTS references),
``gum`` (JCGM 100 / JCGM 101 uncertainty evaluation for a physical model), ``benchmark``.
"""

__all__: list[str] = []
