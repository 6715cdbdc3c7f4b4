"""One module per model family, each declaring its :class:`~mmindex.backends.family.Family`
record (``FAMILY``, or ``FAMILIES`` for a module that declares related ones). These modules are
light: a family's ``build`` imports its backend (torch, transformers...) only when called.

Adding a family is adding one module here (or a plug-in package's module named by the
``mmindex.families`` entry point group): :mod:`mmindex.backends.family` collects them.
"""

__all__: list[str] = []
