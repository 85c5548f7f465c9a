"""The ``model`` settings of ``noisesearch predict`` (and of ``noisesearch.search``), declared once as the fields of
``ModelArgs`` (diffusers' ``register_to_config`` is the habit): the LightningModule's signature and ``--help``,
``run.settings.build``, run.json (the fingerprint compared on resume), config.yaml, and the checks made before
Lightning loads all derive from these fields and their metadata."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

from jsonargparse.typing import PositiveFloat, PositiveInt

from .errors import UsageError
from .sampling.samplers import SAMPLER_NAMES

RESULTS, MEMORY, UNRECORDED = "results", "memory", "unrecorded"  # what a setting changes, as run.json records it


def setting(default: Any, help: str, records: str = RESULTS) -> Any:
    """A field of ``ModelArgs``: its default, its help text and what it changes (``results``: recorded in run.json
    and compared on resume; ``memory``: recorded, free to change on resume; ``unrecorded``: never changes results)."""
    return field(default=default, metadata={"help": help, "records": records})


@dataclass(frozen=True)
class ModelArgs:
    """Noise search for a diffusion model: ``predict`` runs one search per (condition, repeat)."""

    pipeline: str = setting("digits", "a registered pipeline name (``noisesearch list``) or a local folder of a "
                                      "pipeline.")
    algorithm: str = setting("random", "a registered search algorithm name.")
    algorithm_args: Optional[dict[str, Any]] = setting(
        None, "the algorithm's hyperparameters (see docs/algorithms.md).")
    verifiers: Optional[Union[list[str], str]] = setting(
        None, "verifier names or ``name:argument`` specs (one name alone is taken as a list of one); several form a "
              "mean-rank ensemble. By default the pipeline's own.")
    budget_nfe: Optional[PositiveInt] = setting(
        None, "NFE budget of each search, its final sample included. By default 16 samples' worth (with "
              "``budget_seconds``, 4096 samples' worth: a cap the clock reaches first).")
    budget_seconds: Optional[PositiveFloat] = setting(
        None, "wall-clock seconds each search may spend (verifiers and the journal counted; searches batched "
              "together share their sum); anytime algorithms (random, zero-order, evolution, gradient) stop asking "
              "when it is spent. summary.json records each search's NFEs reached (``nfe_reached``), and a rerun "
              "with ``budget_nfe`` set to them gives the same results.")
    budget_scope: Literal["search", "run"] = setting(
        "search", "``search``: every search spends ``budget_nfe``; ``run``: the run's searches share ``budget_nfe`` "
                  "times their number (each process's searches, with several), for anytime algorithms, in rounds of "
                  "one candidate a search: each search spends half its share, then the searches whose best score "
                  "still climbs get the rest (the climbing half half of it, the climbing quarter of those the other "
                  "half; at most twice a share each). summary.json's ``nfe`` per search is its allocation.")
    steps: Optional[PositiveInt] = setting(None, "denoising steps of a full solve; by default the pipeline's.")
    guidance: Optional[float] = setting(
        None, "classifier-free guidance scale (1 = none); by default the pipeline's.")
    sampler: Optional[Literal[SAMPLER_NAMES]] = setting(
        None, "ODE solver in sigma space, ``heun``, ``euler``, ``dpm2m`` (DPM-Solver++(2M)) or ``unipc`` (UniPC, "
              "bh2, order 2); by default the pipeline's.")
    batch_size: Union[PositiveInt, Literal["auto"]] = setting(
        32, "candidates per forward pass of the denoiser, or ``auto`` (chunks of 4 to 256 candidates timed on the "
            "run's first rounds, the one with the most NFEs per second that fits kept: ``batch_size_auto`` in "
            "summary.json). Results do not depend on it. When the device runs out of memory, the batch is halved "
            "until it fits and the size that fits is kept for the rest of the run (``batch_size_settled``).",
        UNRECORDED)
    frames: Optional[PositiveInt] = setting(
        None, "video pipelines: frames of each clip; by default the pipeline's (Wan 81, LTX-Video 161...). Families "
              "whose VAE compresses time by r take 1 + a multiple of r frames.")
    frame_rate: Optional[PositiveInt] = setting(
        None, "video pipelines that take a frame rate (LTX-Video): frames per second; by default the pipeline's.")
    clip_frames: PositiveInt = setting(
        8, "video: frames each image verifier judges, evenly spaced with the first and last (every frame when the "
           "clip has fewer); verifiers that watch whole clips (temporal, vlm, vqascore) get every frame.")
    clip_aggregate: Literal["mean", "min", "first", "last"] = setting(
        "mean", "video: how the judged frames' scores make a clip's score (``min``: its worst frame).")
    height: Optional[PositiveInt] = setting(None, "image height; by default the pipeline's.")
    width: Optional[PositiveInt] = setting(None, "image width; by default the pipeline's.")
    shard: Literal["conditions", "candidates"] = setting(
        "conditions", "how several devices split the work: ``conditions`` (each rank runs whole searches) or "
                      "``candidates`` (every rank runs every search and evaluates its share of each round's "
                      "candidates).", UNRECORDED)
    ensemble: Literal["rank", "weighted"] = setting(
        "rank", "how several verifiers combine: ``rank`` (mean rank, as the paper) or ``weighted`` (weighted sum "
                "of scores standardised over a search's candidates).")
    guard: Optional[str] = setting(
        None, "a held-out verifier spec that guards the final choice against reward hacking: it never drives the "
              "search (no algorithm is told its scores), it scores every finished candidate, and a search returns "
              "the best by its own verifiers among the candidates the guard ranks in its top ``guard_keep``.")
    guard_keep: float = setting(
        0.5, "with ``model.guard``: the share of a search's finished candidates, best by the guard first, that the "
             "final choice is made among (1: the guard only records its scores).")
    verifier_weights: Optional[list[float]] = setting(
        None, "weights of ``weighted``, one per verifier (default: equal).")
    verifier_device: Optional[str] = setting(
        None, "where the verifiers run (``cpu``, ``cuda:1``...); by default the pipeline's device.", UNRECORDED)
    dtype: Optional[Literal["fp32", "bf16", "fp16"]] = setting(
        None, "the pipeline's weights and activations, ``fp32``, ``bf16`` or ``fp16`` (verifiers stay as they "
              "are); by default as loaded. ``trainer.precision`` (e.g. ``bf16-true``) converts pipeline and "
              "verifiers.")
    mode: Optional[Literal["whole", "native"]] = setting(
        None, "diffusers pipelines only: ``whole`` runs ``pipe(latents=...)`` per candidate batch (initial-noise "
              "algorithms), ``native`` drives the pipeline's denoiser with the core's sampler (every algorithm). "
              "By default whole where the algorithm and verifiers need only initial noises and final images, else "
              "native (and native for pipelines that draw their own noise, such as DiT).")
    offload: bool = setting(
        False, "diffusers pipelines only: model CPU offload (each component is moved to the device only while it "
               "runs, as diffusers' ``enable_model_cpu_offload``), for pipelines larger than the GPU's memory.",
        MEMORY)
    keep_images: Optional[PositiveInt] = setting(
        None, "the journal keeps every candidate's image (8 bits, as its PNG) by default; with K, only images of "
              "candidates fewer than K earlier ones of their search beat on every verifier (the best few; resume "
              "stays exact). Thumbnails for report.html are kept for every candidate either way.", UNRECORDED)
    compile: Literal["off", "denoiser", "regional"] = setting(
        "off", "``torch.compile`` the pipeline's denoiser network: ``off``, ``denoiser`` (the whole network) or "
               "``regional`` (each of its repeated blocks, compiled once and reused, as diffusers' "
               "``compile_repeated_blocks``: a shorter cold start). Chunks are padded to one size so nothing "
               "recompiles mid-run; the compile warm-up is reported apart (``compile_warmup_s``). Results match "
               "eager ones to float rounding, so a run resumes only under the setting it started with.")
    preview_decoder: Optional[str] = setting(
        None, "diffusers pipelines in native mode: a diffusers ``AutoencoderTiny`` (TAESD, TAESDXL, TAESD3, TAEF1; a "
              "folder or hub id) that decodes the x0-previews SMC, beam, halving, paths and preview verifiers "
              "score; finished candidates always use the pipeline's own VAE.")
    preview_size: Optional[PositiveInt] = setting(
        None, "score x0-previews with their longer side at most this many pixels (latent pipelines decode them at "
              "that size); finished candidates keep the full size.")
    preview_frames: Optional[PositiveInt] = setting(
        None, "video pipelines of diffusers in native mode: decode each x0-preview from this many of its latent "
              "frames, evenly spaced from the first to the last, each decoded on its own (cheap, approximate past the "
              "first frame); unset, previews decode the whole clip. Finished clips are always decoded whole.")
    pad_chunks: bool = setting(
        False, "pad every chunk's calls (the denoiser, decoding, the verifiers) to model.batch_size rows, so that a "
               "candidate's result never depends on what shares its chunk or on the chunk's size, bit for bit: what "
               "noisesearch serve runs, so a job's result equals noisesearch predict's with this setting (a fixed "
               "batch_size; padded rows cost compute, never NFEs).")
    baseline: bool = setting(
        True, "solve each search's first noise once without search where its algorithm's candidates do not include "
              "it (halving, smc, beam, paths): what no search would have returned, shown beside the chosen sample "
              "with its gain and the world's verdict; never chosen, its NFEs counted apart from the budget (cost "
              "baseline_nfe). false skips it (bench does, so that seconds compare). It changes no search's result.",
        UNRECORDED)
    background_writes: bool = setting(
        True, "the journal's artifacts and records are written on a background thread, in order and at most two "
              "rounds behind, so the device never waits for them (a candidate is kept across a crash once its "
              "round is durable; results are written after every round before them); false writes them inline.",
        MEMORY)


FIELDS: tuple[dataclasses.Field, ...] = dataclasses.fields(ModelArgs)
NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
TYPES: dict[str, Any] = typing.get_type_hints(ModelArgs)
RECORDED: tuple[str, ...] = tuple(f.name for f in FIELDS if f.metadata["records"] != UNRECORDED)
MEMORY_ONLY: tuple[str, ...] = tuple(f.name for f in FIELDS if f.metadata["records"] == MEMORY)


def defaults() -> dict[str, Any]:
    return {f.name: f.default for f in FIELDS}


def signature() -> inspect.Signature:
    """The LightningModule's ``__init__`` signature: ``self`` and one keyword per setting (what LightningCLI and
    jsonargparse parse and check)."""
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    parameters += [inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=f.default,
                                     annotation=TYPES[f.name]) for f in FIELDS]
    return inspect.Signature(parameters)


def docstring(head: str) -> str:
    """``head``, then an ``Args:`` section with every setting's help (what ``--help`` prints)."""
    lines = [head, "", "Args:"]
    for f in FIELDS:
        lines.append(f"    {f.name}: {f.metadata['help']}")
    return "\n".join(lines) + "\n"


def check_names(given: dict) -> None:
    """Refuse a setting that does not exist, with the closest name."""
    for name in given:
        if name not in NAMES:
            close = difflib.get_close_matches(str(name), NAMES, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"model.{name} is no setting{hint} (the model settings: {', '.join(NAMES)})")


def check_values(given: dict) -> None:
    """Refuse values of the wrong shape for their declared type (positive numbers, choices), in one line each."""
    for name, value in given.items():
        if value is not None and name in TYPES:
            problem = _problem(TYPES[name], value)
            if problem:
                raise UsageError(f"model.{name}={value!r}: {problem}")


def _problem(annotation: Any, value: Any) -> Optional[str]:
    """What is wrong with ``value`` for ``annotation`` (the shapes the settings use), or None."""
    options = [a for a in typing.get_args(annotation) if a is not type(None)] \
        if typing.get_origin(annotation) is Union else [annotation]
    problems = [_one_problem(option, value) for option in options]
    if any(problem is None for problem in problems):
        return None
    if len(options) == 2 and _one_problem(options[0], 1) is None and typing.get_origin(options[1]) is Literal:
        return "give a positive whole number or " + " or ".join(map(str, typing.get_args(options[1])))
    return problems[0] + (" (or leave it unset)" if type(None) in typing.get_args(annotation) else "")


def _one_problem(option: Any, value: Any) -> Optional[str]:
    if option is PositiveInt:
        good = isinstance(value, int) and not isinstance(value, bool) and value > 0
        return None if good else "give a positive whole number"
    if option is PositiveFloat:
        good = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        return None if good else "give a positive number of seconds"
    if typing.get_origin(option) is Literal:
        choices = typing.get_args(option)
        return None if value in choices else f"use {', '.join(map(str, choices))}"
    return None  # other types are LightningCLI's parser's to check
