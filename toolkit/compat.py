"""The plugin API's versions, and every registered class checked against the protocol of its kind when plugins
load (as pytest checks hook implementations when they register): a class that fits is used as it is; one written
for an older version whose form can be adapted without changing results is adapted, with one warning naming the
release that stops adapting it; one that does not fit is refused in one line naming the plugin, its distribution,
the method and what changed (docs/plugins.md#api-versions; CHANGELOG.md lists every change)."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .algorithm import SearchAlgorithm
from .pipeline import Family, Pipeline, RunSpec
from .verifier import Verifier

API_VERSION = 3  # this release's plugin API (noisesearch.plugin.API_VERSION)
ADAPTED_UNTIL = {1: "0.3.0", 2: "0.4.0"}  # the release that stops adapting an older version's forms
DOCS = "docs/plugins.md#api-versions"


class PluginDeprecation(FutureWarning):
    """A plugin written for an older plugin API, adapted until the release the message names."""


@dataclass(frozen=True)
class Checked:
    """A registered class as checked: the class to use (an adapter where it was adapted), the version its forms
    are (declared, or read from its signatures), warnings to give once when it is used, or why it is refused."""

    cls: type
    api: int
    problem: Optional[str] = None
    notes: tuple[str, ...] = ()


@dataclass
class Origin:
    """Where a class comes from, for messages: the plugin's name, its distribution, the version it declares."""

    plugin: str
    distribution: str
    declared: Optional[int] = None
    notes: list[str] = field(default_factory=list)

    def who(self) -> str:
        return f"plugin {self.plugin!r} ({self.distribution})"

    def refuse(self, cls: type, method: str, changed: str) -> str:
        return f"{self.who()}: {cls.__name__}.{method} {changed}; see {DOCS}"

    def adapted(self, version: int, cls: type, what: str) -> None:
        self.notes.append(f"{self.who()} is written for plugin API {version}: {cls.__name__} {what}; adapted until "
                          f"noisesearch {ADAPTED_UNTIL[version]} (this noisesearch speaks API {API_VERSION}; {DOCS})")


def declared_version(plugin: Any) -> Optional[int]:
    """The API version a plugin module declares (``NOISESEARCH_API = 3``), None when it declares none."""
    return getattr(plugin, "NOISESEARCH_API", None)


def check(kind: str, cls: Any, origin: Origin) -> Checked:
    """``cls`` (one registered ``kind``: algorithms, verifiers, pipelines) checked against its protocol."""
    declared = origin.declared
    if declared is not None and (not isinstance(declared, int) or not 1 <= declared <= API_VERSION):
        problem = (f"{origin.who()} declares NOISESEARCH_API = {declared!r}; this noisesearch speaks API "
                   f"{API_VERSION} (and adapts {', '.join(map(str, ADAPTED_UNTIL))}): upgrade noisesearch, or "
                   f"install a release of the plugin for API {API_VERSION}; see {DOCS}")
        return Checked(cls, API_VERSION, problem)
    checker = {"algorithms": check_algorithm, "verifiers": check_verifier, "pipelines": check_pipeline}[kind]
    try:
        used, version = checker(cls, origin)
    except Refused as refused:
        return Checked(cls, declared or API_VERSION, str(refused))
    return Checked(used, declared or version, None, tuple(origin.notes))


class Refused(Exception):
    """A class that does not fit its protocol (the message is the one line the user reads)."""


def required(function: Callable) -> int:
    """How many positional arguments a method requires (``self`` left out)."""
    parameters = list(inspect.signature(function).parameters.values())[1:]
    return sum(p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               for p in parameters)


def accepts(function: Callable, count: int) -> bool:
    """Whether a method can be called with ``count`` positional arguments (``self`` left out)."""
    parameters = list(inspect.signature(function).parameters.values())[1:]
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return required(function) <= count
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return required(function) <= count <= len(positional)


def named(cls: type, origin: Origin, base: type) -> None:
    if not isinstance(cls, type) or not issubclass(cls, base):
        raise Refused(f"{origin.who()} registers {cls!r}, which is no {base.__name__} subclass; see {DOCS}")
    if not isinstance(getattr(cls, "name", None), str) or not cls.name:
        raise Refused(origin.refuse(cls, "name", "is missing: every registered class needs a unique name"))


def overridden(cls: type, method: str, base: type) -> bool:
    return getattr(cls, method) is not getattr(base, method)


def check_algorithm(cls: type, origin: Origin) -> tuple[type, int]:
    named(cls, origin, SearchAlgorithm)
    if not dataclasses.is_dataclass(getattr(cls, "Params", None)):
        raise Refused(origin.refuse(cls, "Params", "is no dataclass: hyperparameters are the fields of a nested "
                                    "frozen dataclass"))
    for method, count in (("ask", 0), ("tell", 1), ("__init__", 2)):
        if method != "__init__" and not overridden(cls, method, SearchAlgorithm):
            raise Refused(origin.refuse(cls, f"{method}()", "is missing: algorithms implement ask() and "
                                        "tell(outcomes)"))
        if not accepts(getattr(cls, method), count):
            raise Refused(origin.refuse(cls, method, f"takes {required(getattr(cls, method))} arguments; the "
                                        f"protocol calls it with {count}"))
    return cls, API_VERSION


def check_verifier(cls: type, origin: Origin) -> tuple[type, int]:
    named(cls, origin, Verifier)
    if not overridden(cls, "score", Verifier):
        raise Refused(origin.refuse(cls, "score", "is missing: verifiers implement score(images, conditions)"))
    if not accepts(cls.score, 2):
        raise Refused(origin.refuse(cls, "score", f"takes {required(cls.score)} arguments; the protocol calls "
                                    "score(images, conditions)"))
    if cls.preview_sigma is not None and "previews" not in inspect.signature(cls.score).parameters:
        raise Refused(origin.refuse(cls, "score", "takes no previews: a verifier with preview_sigma is called "
                                    "score(images, conditions, previews=...)"))
    if cls.reads_latents and not overridden(cls, "score_latents", Verifier):
        raise Refused(origin.refuse(cls, "score_latents", "is missing: a verifier that reads_latents implements "
                                    "score_latents(latents, conditions)"))
    return cls, API_VERSION


RUNTIME = (("latent_shape", 2, "latent_shape(height, width)"), ("sigmas", 1, "sigmas(steps)"),
           ("encode", 1, "encode(conditions)"), ("decode", 1, "decode(x0)"))


def check_pipeline(cls: type, origin: Origin) -> tuple[type, int]:
    """A ``Family`` (API 3; its ``pipeline_class``, where it names one, checked too), or a ``Pipeline`` class
    registered as its own family (API 2, and API 1's older method forms), adapted."""
    if isinstance(cls, type) and issubclass(cls, Family):
        named(cls, origin, Family)
        if cls.pipeline_class is None and not overridden(cls, "load", Family):
            raise Refused(origin.refuse(cls, "load", "is missing: a family names its pipeline_class or implements "
                                        "load(source)"))
        if cls.pipeline_class is not None:
            cls.pipeline_class, _ = runtime(cls.pipeline_class, origin, cls.whole)
        return cls, API_VERSION
    named(cls, origin, Pipeline)
    adapted, older = runtime(cls, origin, getattr(cls, "whole", False))
    if older:
        return adapted, 1
    origin.adapted(2, cls, "is registered as a Pipeline class with its description in class attributes (read as "
                   "a Family: register a Family subclass instead)")
    return adapted, 2


def runtime(cls: type, origin: Origin, whole: bool) -> tuple[type, bool]:
    """A loaded pipeline's methods checked; API 1's denoise, generate and configure adapted."""
    if not isinstance(cls, type) or not issubclass(cls, Pipeline):
        raise Refused(f"{origin.who()}: its pipeline_class {cls!r} is no Pipeline subclass; see {DOCS}")
    for method, count, form in RUNTIME + ((("generate", 3, "generate(noises, conditions, specs)"),) if whole else
                                          (("denoise", 3, "denoise(x, sigma, cond)"),)):
        if not overridden(cls, method, Pipeline):
            raise Refused(origin.refuse(cls, method, f"is missing: a pipeline implements {form}"))
    old = {}
    if not whole and not accepts(cls.denoise, 3):
        if not accepts(cls.denoise, 4):
            raise Refused(origin.refuse(cls, "denoise", f"takes {required(cls.denoise)} arguments; the API "
                                        f"{API_VERSION} form is denoise(x, sigma, cond), the guidance read from "
                                        "self.run"))
        old["denoise"] = "denoise(x, sigma, cond, guidance)"
    if whole and not accepts(cls.generate, 3):
        if not accepts(cls.generate, 7):
            raise Refused(origin.refuse(cls, "generate", f"takes {required(cls.generate)} arguments; the API "
                                        f"{API_VERSION} form is generate(noises, conditions, specs)"))
        old["generate"] = "generate(noises, conditions, steps, guidance, height, width, specs)"
    if overridden(cls, "configure", Pipeline) and not accepts(cls.configure, 1):
        if not accepts(cls.configure, 5):
            raise Refused(origin.refuse(cls, "configure", "takes neither a RunSpec nor API 1's five settings"))
        old["configure"] = "configure(steps, guidance, height, width, sampler)"
    for method, count, form in RUNTIME:
        if not accepts(getattr(cls, method), count):
            raise Refused(origin.refuse(cls, method, f"takes {required(getattr(cls, method))} arguments; the form "
                                        f"is {form}"))
    if not old:
        return cls, False
    origin.adapted(1, cls, f"has {' and '.join(old.values())} (the run's settings now arrive once, as "
                   "configure(run: RunSpec), and the other methods read self.run)")
    return adapt_api1(cls, old), True


def adapt_api1(cls: type, old: dict[str, str]) -> type:
    """A subclass of an API 1 pipeline that speaks API 3: the run's settings handed over once (``configure``) and
    passed to its old methods at every call, as API 1's core did (so results are unchanged)."""
    methods: dict[str, Any] = {"__doc__": cls.__doc__, "__module__": cls.__module__}
    if "denoise" in old:
        def denoise(self, x, sigma, cond):
            return cls.denoise(self, x, sigma, cond, self.run.guidance)
        methods["denoise"] = denoise
    if "generate" in old:
        def generate(self, noises, conditions, specs):
            run = self.run
            return cls.generate(self, noises, conditions, run.steps, run.guidance, run.height, run.width, specs)
        methods["generate"] = generate
    if "configure" in old:
        def configure(self, run: RunSpec):
            Pipeline.configure(self, run)
            cls.configure(self, run.steps, run.guidance, run.height, run.width, run.sampler)
        methods["configure"] = configure
    return type(cls.__name__, (cls,), methods)
