"""noisesearch: inference-time scaling of diffusion models beyond denoising steps (Ma et al., arXiv 2501.09732).

Search noises with verifiers, on Lightning. From Python::

    import noisesearch
    results = noisesearch.search(classes=[3], algorithm="random", budget_nfe=176)
    results[0].pil.save("three.png")

Importing the package is cheap: Lightning and the model libraries load when a search needs them.
"""

from .errors import version as _version  # noqa: E402

__version__ = _version()

from .conditions import Condition  # noqa: E402
from .errors import UsageError  # noqa: E402

__all__ = ["search", "Condition", "SearchModule", "UsageError", "__version__"]


def __getattr__(name: str):
    """``search`` and ``SearchModule`` import Lightning: load them on first use."""
    if name == "search":
        from .api import search

        return search
    if name == "SearchModule":
        from .lightning.module import SearchModule

        return SearchModule
    raise AttributeError(f"module 'noisesearch' has no attribute {name!r}")
