"""The engine stays readable: the loop at most 300 lines, the Executor at most 15 attributes, no function above
cyclomatic complexity 15 (radon), the conformance suite's round counter a stopper rather than a patch."""

from pathlib import Path

import radon.complexity

from helpers import ROOT
from noisesearch.conditions import Condition
from noisesearch.engine import Executor, SearchSettings, Task
from noisesearch.testing.toys import ToyMixture, ToyVerifier
from noisesearch_plugins.algorithms import RandomSearch

ENGINE = ROOT / "toolkit" / "engine"


def test_no_function_in_the_engine_is_above_complexity_15():
    worst = [(block.complexity, f"{path.name}:{block.fullname}") for path in sorted(ENGINE.glob("*.py"))
             for block in radon.complexity.cc_visit(path.read_text())]
    assert max(worst)[0] <= 15, sorted(worst)[-3:]


def test_the_loop_is_short_and_the_executor_holds_few_things():
    assert len((ENGINE / "loop.py").read_text().splitlines()) <= 300
    settings = SearchSettings(RandomSearch, RandomSearch.Params(), 14, 4, "heun", 1.0, 8, 8, 8, 0)
    executor = Executor(ToyMixture(), [ToyVerifier()], settings)
    executor.run([Task(0, Condition(class_label=1), 0)])
    assert len(vars(executor)) <= 15, sorted(vars(executor))


def test_nothing_patches_the_loop_from_outside():
    for path in (ROOT / "toolkit").rglob("*.py"):
        assert "clock_type" not in Path(path).read_text(), path
