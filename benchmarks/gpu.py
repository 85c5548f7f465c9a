"""GPU figures for the README's claims: full-size SDXL and FLUX architectures (random weights) searched at 1024 px.

    python benchmarks/gpu.py                 # on a GPU: SDXL UNet (2.6B) and FLUX.1-dev transformer (11.9B), bf16
    python benchmarks/gpu.py --smoke         # anywhere: the tiny test pipelines at 32 px, to check the script runs
    python benchmarks/gpu.py --families sdxl --candidates 16 --steps 20
    python benchmarks/gpu.py --batching --families sdxl --candidates 128   # batch_size auto's back-off against 8

The denoisers and VAEs are built from the architecture configs in benchmarks/configs/ (the published models' sizes,
random weights: nothing is downloaded); the text encoders keep their published widths with one layer (they run once
per prompt, so they do not change search throughput). The verifier is a tiny open_clip CLIPScore (its cost is
negligible beside a 1024 px denoiser; real reward models are measured in docs/verifiers.md).

For each family it prints, for `random` search (whole mode: `pipe(latents=...)` per batch) and `smc` (native mode:
the core's sampler driving the denoiser):
  - candidates per second and NFEs per second;
  - the framework's overhead: search seconds per NFE against a bare batched `pipe(latents=...)` call of the same
    candidates and steps (no search, no verifier);
  - peak device memory; the batch size `model.batch_size auto` settled on (out-of-memory back-off);
  - model CPU offload's cost: the same random search with `model.offload true`, its seconds against without.
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


def search(pipe, clip: Path, device, algorithm: str, args: dict, steps: int, size: int, budget: int,
           batch_size, offload: bool = False):
    """One search through noisesearch's run session; returns (seconds, candidates, NFEs, settled batch size)."""
    from noisesearch.conditions import Condition
    from noisesearch.engine import Task
    from noisesearch.run.models import Models
    from noisesearch.run.session import RunSession
    from noisesearch.run.settings import build

    settings = build(pipeline=pipe, algorithm=algorithm, algorithm_args=args, steps=steps, height=size, width=size,
                     budget_nfe=budget, batch_size=batch_size, offload=offload, verifiers=[f"clip:local-dir:{clip}"])
    models = Models(settings)
    models.prepare(torch.device(device))
    models.to(device)
    session = RunSession(settings)
    session.open()
    session.begin(models)
    synchronize(device)
    started = time.perf_counter()
    (result,) = session.run([Task(0, Condition(prompt="a red fox"), 0)])
    synchronize(device)
    seconds = time.perf_counter() - started
    return seconds, result.candidates, result.nfe, session.stats.batch_size


def bare(pipe, device, candidates: int, steps: int, size: int) -> float:
    """Seconds of one batched ``pipe(latents=...)`` call of ``candidates`` noises (no search, no verifier)."""
    generator = torch.Generator(device="cpu").manual_seed(0)
    probe = pipe(prompt="a red fox", num_inference_steps=1, height=size, width=size,
                 output_type="latent").images
    latents = torch.randn((candidates, *probe.shape[1:]), generator=generator).to(device, probe.dtype)
    synchronize(device)
    started = time.perf_counter()
    pipe(prompt=["a red fox"] * candidates, latents=latents, num_inference_steps=steps, height=size,
         width=size, output_type="pt")
    synchronize(device)
    return time.perf_counter() - started


def batching(pipe, clip: Path, device, steps: int, size: int, sample_nfe: int, candidates: int) -> None:
    """Random search of ``candidates`` at ``batch_size auto`` (out-of-memory back-off) and at a fixed 8."""
    search(pipe, clip, device, "random", {"n": 1}, steps, size, sample_nfe, 1)  # warm-up
    for batch in ("auto", 8):
        reset_peak(device)
        seconds, found, nfe, settled = search(pipe, clip, device, "random", {"n": candidates}, steps, size,
                                              candidates * sample_nfe, batch)
        print(f"  random, batch_size {batch}: {found} candidates in {seconds:.2f} s ({found / seconds:.2f} "
              f"candidates/s), peak {peak_gib(device):.1f} GiB, settled at {settled}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny pipelines at 32 px (the default without a GPU)")
    parser.add_argument("--families", nargs="+", default=["sdxl", "flux"], choices=["sdxl", "flux"])
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--steps", type=int, default=None, help="default: 20 for SDXL, 8 for FLUX (2 when smoke)")
    parser.add_argument("--batching", action="store_true",
                        help="only the batching probe: random search of --candidates at batch_size auto (starting "
                             "at 256, halved on out-of-memory) against a fixed batch of 8")
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
    print(f"device {torch.cuda.get_device_name(device) if cuda else 'cpu'}, {dtype}, {size}x{size}"
          f"{' (smoke run: tiny pipelines)' if smoke else ''}, {args.candidates} candidates per search")
    for family in args.families:
        steps = args.steps or (2 if smoke else {"sdxl": 20, "flux": 8}[family])
        per_step = 2 if family == "sdxl" else 1  # classifier-free guidance doubles SDXL's calls; FLUX's is distilled
        sample_nfe = steps * per_step
        built = time.perf_counter()
        pipe = builders[family](root / family, device, dtype)
        pipe.set_progress_bar_config(disable=True)
        print(f"\n{family}: built in {time.perf_counter() - built:.1f} s, {steps} steps, {sample_nfe} NFEs a sample")
        if args.batching:
            batching(pipe, clip, device, steps, size, sample_nfe, args.candidates)
            del pipe
            continue
        bare_s = bare(pipe, device, args.candidates, steps, size)
        bare_per_nfe = bare_s / (args.candidates * sample_nfe)
        print(f"  bare pipe(latents=...) of {args.candidates}: {bare_s:.2f} s ({args.candidates / bare_s:.2f} "
              "candidates/s)")
        budget = args.candidates * sample_nfe
        search(pipe, clip, device, "random", {"n": 1}, steps, size, sample_nfe, 1)  # warm-up: kernels, prompt cache
        for algorithm, algorithm_args, batch in (("random", {"n": args.candidates}, "auto"),
                                                  ("smc", {"k": args.candidates}, "auto")):
            reset_peak(device)
            try:
                seconds, candidates, nfe, settled = search(pipe, clip, device, algorithm, algorithm_args, steps, size,
                                                           budget * (2 if algorithm == "smc" else 1), batch)
            except Exception as error:  # noqa: BLE001 - a benchmark reports what failed and goes on
                print(f"  {algorithm}: failed ({type(error).__name__}: {str(error).splitlines()[0][:160]})")
                continue
            overhead = (seconds / nfe) / bare_per_nfe - 1
            print(f"  {algorithm:<6} {candidates:>4} candidates, {nfe:>5} NFEs in {seconds:7.2f} s: "
                  f"{candidates / seconds:6.2f} candidates/s, {nfe / seconds:7.1f} NFEs/s, overhead against bare "
                  f"{overhead:+.1%}, peak {peak_gib(device):.1f} GiB, batch_size auto settled at {settled}")
        if cuda:
            plain, *_ = search(pipe, clip, device, "random", {"n": args.candidates}, steps, size, budget, "auto")
            pipe = builders[family](root / f"{family}-offload", torch.device("cpu"), dtype)
            pipe.set_progress_bar_config(disable=True)
            offloaded, *_ = search(pipe, clip, device, "random", {"n": args.candidates}, steps, size, budget, "auto",
                                   offload=True)
            print(f"  model offload: random search {offloaded:.2f} s against {plain:.2f} s without "
                  f"({offloaded / plain:.2f}x)")
        del pipe
        if cuda:
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
