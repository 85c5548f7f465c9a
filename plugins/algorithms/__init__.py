"""Built-in search algorithms (entry point ``builtin-algorithms``)."""

from noisesearch.hookspecs import hookimpl

from .none import NoSearch
from .random_search import RandomSearch


@hookimpl
def noisesearch_algorithms():
    return [NoSearch, RandomSearch]
