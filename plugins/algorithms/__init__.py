"""Built-in search algorithms (entry point ``builtin-algorithms``)."""

from noisesearch.plugin import hookimpl

NOISESEARCH_API = 3  # the plugin API this package targets (noisesearch.plugin.API_VERSION)

from .beam import BeamSearch
from .evolution import Evolution
from .gradient import GradientAscent
from .halving import Halving
from .none import NoSearch
from .paths import SearchOverPaths
from .random_search import RandomSearch
from .smc import SMCSteering
from .zero_order import ZeroOrder

ALGORITHMS = [NoSearch, RandomSearch, ZeroOrder, SearchOverPaths, SMCSteering, BeamSearch, Evolution, Halving,
              GradientAscent]


@hookimpl
def noisesearch_algorithms():
    return ALGORITHMS
