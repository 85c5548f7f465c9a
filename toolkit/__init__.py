"""noisesearch: inference-time scaling of diffusion models beyond denoising steps (Ma et al., arXiv 2501.09732).

Search noises with verifiers, on Lightning. From Python::

    import noisesearch
    results = noisesearch.search(classes=[3], algorithm="random", budget_nfe=176)
    results[0].pil.save("three.png")
"""

__version__ = "0.1.0"

from .api import search  # noqa: E402
from .conditions import Condition  # noqa: E402
from .errors import UsageError  # noqa: E402
from .module import SearchModule  # noqa: E402

__all__ = ["search", "Condition", "SearchModule", "UsageError", "__version__"]
