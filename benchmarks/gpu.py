"""GPU figures for #26's goals: full-size SDXL and FLUX architectures (random weights) searched at 1024 px.

    python benchmarks/gpu.py --json gpu.json            # on a GPU: SDXL UNet (2.6B), FLUX.1-dev transformer (11.9B)
    python benchmarks/gpu.py --smoke --json smoke.json  # anywhere: the tiny test pipelines at 32 px (script check)
    python benchmarks/gpu.py --families sdxl --compile denoiser

The denoisers and VAEs are built from the architecture configs in benchmarks/configs/ (the published models' sizes,
random weights: nothing is downloaded); the text encoders keep their published widths with one layer (they run once
per prompt). The verifier is a tiny open_clip CLIPScore; the preview decoder a diffusers AutoencoderTiny of TAESD's
(SDXL) or TAEF1's (FLUX) default size, random weights.

For each family, eager and then with ``model.compile`` (``regional`` by default: each repeated block compiled once),
it measures and writes to one JSON:
  - the bare batched ``pipe(latents=...)`` of the candidates (no search, no verifier) and the peers' loop, one
    ``pipe()`` per candidate;
  - ``random`` search (whole mode) with the journal written in the background and inline, against bare: overhead;
  - ``smc`` on FK's resampling schedule (native mode), with the pipeline's VAE and with the tiny preview decoder;
  - MFU: FLOPs of one denoiser forward of one row (torch's FlopCounterMode) times NFEs per second, over the bf16
    matmul rate measured on the same device;
  - ``batch_size auto``: what it chose and the NFEs per second it measured;
  - peak device memory of each search, and the compile warm-up apart from the search's time.
It prints the goals of #26 beside the figures.
"""

from __future__ import annotations

import argparse
import json
import string
import tempfile
import time
from pathlib import Path

import torch

CONFIGS = Path(__file__).parent / "configs"


def config(name: str) -> dict:
    values = json.loads((CONFIGS / f"{name}.json").read_text())
    values.pop("_note", None)
    return values


def clip_tokenizer(folder: Path, max_length: int = 77):
    """A character-level CLIP tokenizer written to ``folder`` (no download)."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["<|startoftext|>", "<|endoftext|>", *string.ascii_lowercase, *(c + "</w>" for c in string.ascii_lowercase)]
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=max_length)


def clip_text(width: int, projection: int | None = None):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    extra = {"projection_dim": projection} if projection else {}
    settings = CLIPTextConfig(vocab_size=54, hidden_size=width, intermediate_size=4 * width, num_hidden_layers=1,
                              num_attention_heads=max(1, width // 64), max_position_embeddings=77, bos_token_id=0,
                              eos_token_id=1, pad_token_id=1, **extra)
    return CLIPTextModelWithProjection(settings) if projection else CLIPTextModel(settings)


def full_sdxl(root: Path, device: torch.device, dtype: torch.dtype):
    """SDXL base's UNet and VAE at full size; its two text encoders at their widths (768, 1280), one layer each."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    tokenizer = clip_tokenizer(root / "clip-vocab")
    with torch.device(device):
        unet = UNet2DConditionModel(**config("sdxl_unet")).to(dtype)
        vae = AutoencoderKL(**config("sdxl_vae")).to(dtype)
        text, text_2 = clip_text(768).to(dtype), clip_text(1280, projection=1280).to(dtype)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    return StableDiffusionXLPipeline(vae=vae, text_encoder=text, text_encoder_2=text_2, tokenizer=tokenizer,
                                     tokenizer_2=tokenizer, unet=unet, scheduler=scheduler)


def full_flux(root: Path, device: torch.device, dtype: torch.dtype):
    """FLUX.1-dev's transformer and VAE at full size; CLIP-L (768) and a T5 of width 4096, one layer each."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import T5Config, T5EncoderModel

    from noisesearch_plugins.testing.tiny_models import _tiny_t5_tokenizer

    tokenizer = clip_tokenizer(root / "clip-vocab")
    t5_tokenizer, t5_vocab = _tiny_t5_tokenizer()
    with torch.device(device):
        transformer = FluxTransformer2DModel(**config("flux_transformer")).to(dtype)
        vae = AutoencoderKL(**config("flux_vae")).to(dtype)
        clip = clip_text(768).to(dtype)
        t5 = T5EncoderModel(T5Config(vocab_size=t5_vocab, d_model=4096, d_kv=64, d_ff=256, num_layers=1,
                                     num_heads=64, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)).to(dtype)
    return FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True), vae=vae,
                        text_encoder=clip, tokenizer=tokenizer, text_encoder_2=t5, tokenizer_2=t5_tokenizer,
                        transformer=transformer)


def tiny(builder):
    """A tiny test pipeline (the smoke run), loaded from the folder its builder saves."""
    def build(root: Path, device: torch.device, dtype: torch.dtype):
        from diffusers import DiffusionPipeline

        return DiffusionPipeline.from_pretrained(builder(root / "pipe")).to(device, dtype)
    return build


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def search(pipe, clip: Path, device, algorithm: str, args: dict, steps: int, size: int, budget: int, batch_size,
           out: Path, **settings) -> dict:
    """One search through noisesearch's run session, journaled in ``out``: its seconds (the compile warm-up apart),
    candidates, NFEs, peak memory and batch-size figures."""
    from noisesearch.conditions import Condition
    from noisesearch.engine import Task
    from noisesearch.run.models import Models
    from noisesearch.run.session import RunSession
    from noisesearch.run.settings import build

    built = build(pipeline=pipe, algorithm=algorithm, algorithm_args=args, steps=steps, height=size, width=size,
                  budget_nfe=budget, batch_size=batch_size, verifiers=[f"clip:local-dir:{clip}"], **settings)
    models = Models(built)
    models.prepare(torch.device(device))
    models.to(device)
    session = RunSession(built, out, overwrite=True)
    reset_peak(device)
    synchronize(device)
    (result,), summary = session.search(models, [Task(0, Condition(prompt="a red fox"), 0)], device)
    stats = session.stats
    seconds = summary.cost.elapsed_s  # the search's seconds, the compile warm-up apart
    return {"seconds": round(seconds, 3), "candidates": result.candidates, "nfe": result.nfe,
            "candidates_per_s": round(result.candidates / seconds, 3), "nfe_per_s": round(result.nfe / seconds, 2),
            "warmup_s": round(stats.warmup_s, 2), "peak_gib": round(peak_gib(device), 2),
            "batch_size": stats.batch_size, "auto": stats.auto, "denoiser_s": round(stats.denoiser_s, 3)}


def latents_for(pipe, device, candidates: int, size: int) -> torch.Tensor:
    generator = torch.Generator(device="cpu").manual_seed(0)
    probe = pipe(prompt="a red fox", num_inference_steps=1, height=size, width=size, output_type="latent").images
    return torch.randn((candidates, *probe.shape[1:]), generator=generator).to(device, probe.dtype)


def bare(pipe, device, latents: torch.Tensor, steps: int, size: int) -> float:
    """Seconds of one batched ``pipe(latents=...)`` call (no search, no verifier)."""
    synchronize(device)
    started = time.perf_counter()
    pipe(prompt=["a red fox"] * len(latents), latents=latents, num_inference_steps=steps, height=size, width=size,
         output_type="pt")
    synchronize(device)
    return time.perf_counter() - started


def peers_loop(pipe, device, latents: torch.Tensor, steps: int, size: int) -> float:
    """Seconds of the peers' loop: one ``pipe()`` per candidate."""
    synchronize(device)
    started = time.perf_counter()
    for row in latents:
        pipe(prompt="a red fox", latents=row[None], num_inference_steps=steps, height=size, width=size,
             output_type="pt")
    synchronize(device)
    return time.perf_counter() - started


def denoiser_flops(pipe, size: int) -> float:
    """FLOPs of one forward of the denoiser on one row (FlopCounterMode around the network, one step, no CFG)."""
    from torch.utils.flop_counter import FlopCounterMode

    network = getattr(pipe, "unet", None) or pipe.transformer
    counter = FlopCounterMode(display=False)
    calls = []
    def enter(module, args):
        counter.__enter__()  # a pre-hook's return value would replace the arguments

    pre = network.register_forward_pre_hook(enter)

    def leave(module, args, output):
        counter.__exit__(None, None, None)
        calls.append(1)

    post = network.register_forward_hook(leave)
    try:
        pipe(prompt="a red fox", num_inference_steps=1, height=size, width=size, guidance_scale=1.0,
             output_type="latent")
    finally:
        pre.remove()
        post.remove()
    return counter.get_total_flops() / max(len(calls), 1)


def matmul_rate(device: torch.device, dtype: torch.dtype) -> float:
    """FLOP/s of a large square matmul in ``dtype`` on ``device`` (the roof MFU is measured against)."""
    n = 8192 if device.type == "cuda" else 512
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    for _ in range(3):
        a @ b
    synchronize(device)
    repeats = 50 if device.type == "cuda" else 5
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * n**3 * repeats / (time.perf_counter() - started)


def tiny_decoder(root: Path, channels: int, smoke: bool) -> Path:
    """An AutoencoderTiny of TAESD's default size (4 channels) or TAEF1's (16), random weights, in a folder."""
    from diffusers import AutoencoderTiny

    if smoke:
        from noisesearch_plugins.testing.tiny_models import save_tiny_autoencoder_tiny

        return save_tiny_autoencoder_tiny(root, latent_channels=channels)
    AutoencoderTiny(latent_channels=channels).save_pretrained(root)
    return root


def unpatched(network) -> None:
    """Undo ``torch.compile`` applied in place by ``model.compile`` (``nn.Module.compile``)."""
    for module in network.modules():
        module._compiled_call_impl = None


def measure(pipe, family: str, clip: Path, device, root: Path, steps: int, size: int, sample_nfe: int,
            candidates: int, compile: str, decoder: Path, auto_candidates: int) -> dict:
    """Every figure of one family under one compile setting (``off`` first: compiling changes the pipe)."""
    figures: dict = {"compile": compile}
    latents = latents_for(pipe, device, candidates, size)
    budget = candidates * sample_nfe
    common = dict(compile=compile)
    warm = search(pipe, clip, device, "random", {"n": candidates}, steps, size, budget, candidates, root / "warm",
                  **common)  # kernels, the prompt's encoding and (compiled) the graphs of this batch size
    figures["first_search_warmup_s"] = warm["warmup_s"]
    bare(pipe, device, latents, steps, size)
    figures["bare_s"] = round(bare(pipe, device, latents, steps, size), 3)
    peers_loop(pipe, device, latents[:1], steps, size)  # warm-up of the one-row shape
    figures["peers_loop_s"] = round(peers_loop(pipe, device, latents, steps, size), 3)
    for name, extra in (("random", {}), ("random_inline_writes", {"background_writes": False})):
        figures[name] = search(pipe, clip, device, "random", {"n": candidates}, steps, size, budget, candidates,
                               root / name, **common, **extra)
    fk = {"k": candidates, "resample_every": max(1, steps // 5), "resample_from": max(1, steps // 5),
          "resample_to": max(1, 4 * steps // 5)}  # FK's scripts: every 20 of 100 steps, from 20 to 80
    for name, extra in (("smc", {}), ("smc_preview_decoder", {"preview_decoder": str(decoder)})):
        try:
            figures[name] = search(pipe, clip, device, "smc", fk, steps, size, budget, candidates, root / name,
                                   **common, **extra)
        except Exception as error:  # noqa: BLE001 - a benchmark reports what failed and goes on
            figures[name] = {"failed": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}
    if compile == "off":  # auto's trial sizes would each compile: measured eager
        figures["auto"] = search(pipe, clip, device, "random", {"n": auto_candidates}, steps, size,
                                 auto_candidates * sample_nfe, "auto", root / "auto")
        fixed = figures["auto"]["auto"]["nfe_per_s"]
        figures["auto"]["best_fixed_nfe_per_s"] = max(fixed.values()) if fixed else None
    return figures


def goals(name: str, eager: dict, compiled: dict, sample_nfe: int, candidates: int) -> list[str]:
    """#26's goals against this family's figures."""
    lines = []
    for figures in (eager, compiled):
        random = figures["random"]["seconds"]
        lines.append(f"{name} compile {figures['compile']}: random search {random:.2f} s against bare "
                     f"{figures['bare_s']:.2f} s: {random / figures['bare_s'] - 1:+.1%} (goal: within 2%)")
        smc = figures.get("smc_preview_decoder", {})
        if "seconds" in smc:
            per_nfe = (smc["seconds"] / smc["nfe"]) / (figures["bare_s"] / (candidates * sample_nfe))
            lines.append(f"{name} compile {figures['compile']}: smc with the preview decoder {per_nfe:.2f}x bare per "
                         "NFE (goal: at most 1.5x)")
        auto = figures.get("auto")
        if auto is not None:
            lines.append(f"{name}: auto chose {auto['auto']['chosen']} from its trials {auto['auto']['nfe_per_s']} "
                         f"(NFEs/s), the whole search ran at {auto['nfe_per_s']:.1f} NFEs/s (goal: at least as fast "
                         "as the best fixed size it tried)")
    lines.append(f"{name}: compiled search {eager['random']['seconds'] / compiled['random']['seconds']:.2f}x eager "
                 f"search (goal: 1.15x), {eager['peers_loop_s'] / compiled['random']['seconds']:.2f}x the peers' eager "
                 "loop (goal: 2.5x)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny pipelines at 32 px (the default without a GPU)")
    parser.add_argument("--families", nargs="+", default=["sdxl", "flux"], choices=["sdxl", "flux"])
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--steps", type=int, default=None, help="default: 20 for SDXL, 8 for FLUX (5 when smoke)")
    parser.add_argument("--compile", default="regional", choices=["denoiser", "regional"])
    parser.add_argument("--auto-candidates", type=int, default=32, help="candidates of the batch_size auto search")
    parser.add_argument("--json", default="gpu.json", help="where the figures go")
    args = parser.parse_args()
    from noisesearch_plugins.testing.tiny_models import save_tiny_flux, save_tiny_open_clip, save_tiny_sdxl

    cuda = torch.cuda.is_available()
    smoke = args.smoke or not cuda
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32
    size = 32 if smoke else 1024
    root = Path(tempfile.mkdtemp(prefix="gpu-bench-"))
    clip = save_tiny_open_clip(root / "clip")
    builders = {"sdxl": tiny(save_tiny_sdxl) if smoke else full_sdxl,
                "flux": tiny(save_tiny_flux) if smoke else full_flux}
    rate = matmul_rate(device, dtype)
    report = {"device": torch.cuda.get_device_name(device) if cuda else "cpu", "dtype": str(dtype), "size": size,
              "smoke": smoke, "candidates": args.candidates, "matmul_tflops": round(rate / 1e12, 1), "families": {}}
    print(f"device {report['device']}, {dtype}, {size}x{size}{' (smoke run: tiny pipelines)' if smoke else ''}, "
          f"{args.candidates} candidates per search, matmul {rate / 1e12:.1f} TFLOP/s")
    lines = []
    for family in args.families:
        steps = args.steps or (5 if smoke else {"sdxl": 20, "flux": 8}[family])
        per_step = 2 if family == "sdxl" else 1  # classifier-free guidance doubles SDXL's calls; FLUX's is distilled
        sample_nfe = steps * per_step
        built = time.perf_counter()
        pipe = builders[family](root / family, device, dtype)
        pipe.set_progress_bar_config(disable=True)
        channels = pipe.vae.config.latent_channels
        decoder = tiny_decoder(root / f"{family}-tiny-decoder", channels, smoke)
        flops = denoiser_flops(pipe, size)
        print(f"\n{family}: built in {time.perf_counter() - built:.1f} s, {steps} steps, {sample_nfe} NFEs a sample, "
              f"{flops / 1e12:.3f} TFLOP per row and forward")
        figures = {"steps": steps, "sample_nfe": sample_nfe, "tflop_per_row_forward": round(flops / 1e12, 4)}
        for compile in ("off", args.compile):
            measured = measure(pipe, family, clip, device, root / f"{family}-{compile}", steps, size, sample_nfe,
                               args.candidates, compile, decoder, args.auto_candidates)
            for key in ("random", "random_inline_writes", "smc", "smc_preview_decoder", "auto"):
                run = measured.get(key, {})
                if "nfe_per_s" in run:
                    run["mfu"] = round(flops * run["nfe_per_s"] / rate, 4)
            bare_nfe_s = args.candidates * sample_nfe / measured["bare_s"]
            measured["bare_mfu"] = round(flops * bare_nfe_s / rate, 4)
            figures[compile] = measured
            print(json.dumps(measured, indent=1))
        unpatched(getattr(pipe, "unet", None) or pipe.transformer)
        lines += goals(family, figures["off"], figures[args.compile], sample_nfe, args.candidates)
        report["families"][family] = figures
        del pipe
        if cuda:
            torch.cuda.empty_cache()
    report["goals"] = lines
    print("\n" + "\n".join(lines))
    Path(args.json).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
