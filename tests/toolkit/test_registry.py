"""The pluggy plugin system: built-ins found through entry points, duplicates refused, `list` complete."""

import types

import pluggy
import pytest

from noisesearch import hookspecs, registry
from noisesearch.errors import UsageError
from noisesearch.cli import format_plugins
from noisesearch_plugins.algorithms import RandomSearch


def test_builtins_come_from_entry_points():
    index = registry.index()
    assert {"none", "random"} <= set(index["algorithms"])
    assert "digits" in index["pipelines"] and "digits-classifier" in index["verifiers"]
    entry = index["algorithms"]["random"]
    assert entry.plugin == "builtin-algorithms" and entry.distribution.startswith("noisesearch ")


def test_unknown_name_lists_known():
    with pytest.raises(registry.UsageError, match="known algorithms: .*none.*random"):
        registry.lookup("algorithms", "annealing")


def test_duplicate_name_names_both_plugins():
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for plugin_name in ("first-plugin", "second-plugin"):
        plugin = types.SimpleNamespace(noisesearch_algorithms=hookspecs.hookimpl(lambda: [RandomSearch]))
        pm.register(plugin, name=plugin_name)
    with pytest.raises(registry.DuplicateNameError) as error:
        registry.build_index(pm)
    assert "first-plugin" in str(error.value) and "second-plugin" in str(error.value)


def test_list_shows_description_distribution_and_target():
    import noisesearch

    text = format_plugins()
    assert "random" in text and "best-of-N" in text and f"noisesearch {noisesearch.__version__}, API 3" in text
    assert "digits-classifier" in text and "pipelines:" in text and "speaks API 3" in text
    assert max(len(line) for line in text.splitlines()) <= 100 and "``" not in text


def test_an_object_no_family_takes_is_refused_in_one_line():
    from noisesearch.resolve import describe_spec, resolve_pipeline

    with pytest.raises(UsageError, match="no installed pipeline family takes a dict object"):
        resolve_pipeline({"not": "a pipeline"})
    assert describe_spec({"x": 1}) == "object:dict" and describe_spec("digits") == "digits"
