"""``model.preview_decoder`` and ``model.preview_size`` on diffusers pipelines in native mode: x0-previews decoded
by a tiny ``AutoencoderTiny`` (TAESD's architecture, random weights) at the lower size, finished candidates by the
pipeline's own VAE."""

import pytest
import torch

import noisesearch
from noisesearch.errors import UsageError
from noisesearch.lightning.module import SearchModule
from noisesearch.store.journal import read_run
from noisesearch_plugins.testing import tiny_models


@pytest.fixture(scope="module")
def parts(tmp_path_factory, tiny_sd, tiny_clip):
    root = tmp_path_factory.mktemp("previews")
    return {"sd": tiny_sd("ddim"),
            "flux": tiny_models.save_tiny_flux(root / "flux"),
            "clip": tiny_clip,
            "tae": tiny_models.save_tiny_autoencoder_tiny(root / "tae", latent_channels=4),
            "tae16": tiny_models.save_tiny_autoencoder_tiny(root / "tae16", latent_channels=16)}


def module(parts, family="sd", algorithm="beam", budget=64, **settings):
    return SearchModule(pipeline=str(parts[family]), algorithm=algorithm, budget_nfe=budget, steps=4, height=32,
                        width=32, verifiers=[f"clip:local-dir:{parts['clip']}"], **settings)


def rows_through(decoder: torch.nn.Module, sizes: list) -> None:
    decoder.register_forward_hook(lambda mod, args, out: sizes.append(tuple(args[0].shape)))


def test_previews_go_through_the_tiny_decoder_and_finished_candidates_through_the_vae(parts, tmp_path):
    searcher = module(parts, preview_decoder=str(parts["tae"]))
    searcher.models.load()
    tiny, vae = searcher.pipeline.preview_vae.decoder, searcher.pipeline.pipe.vae.decoder
    through_tiny, through_vae = [], []
    rows_through(tiny, through_tiny)
    rows_through(vae, through_vae)
    noisesearch.search(prompts=["a red cat", "two dogs"], module=searcher, out=tmp_path / "run")
    candidates, _ = read_run(tmp_path / "run" / "journal")
    previews = sum(record.stop > 0 and record.scored for record in candidates.values())
    finished = sum(record.stop == 0 for record in candidates.values())
    assert previews > 0 and finished > 0
    assert sum(shape[0] for shape in through_tiny) == previews
    assert sum(shape[0] for shape in through_vae) == finished


def test_preview_size_decodes_a_smaller_latent(parts):
    for family in ("sd", "flux"):  # FLUX's latents are packed: unpacked before they are averaged down
        searcher = module(parts, family, preview_decoder=str(parts["tae"]),
                          preview_size=16)
        searcher.models.load()
        pipeline = searcher.pipeline
        pipeline.configure(noisesearch.plugin.RunSpec(4, 1.0, 32, 32, "euler"))
        seen = []
        rows_through(pipeline.preview_vae.decoder, seen)
        z = torch.randn(2, *pipeline.latent_shape(32, 32))
        assert pipeline.decode_preview(z, 16).shape == (2, 3, 16, 16)
        assert seen[0][-2:] == (2, 2)  # 16 pixels at the VAE's 8x: a 2x2 latent
        assert pipeline.decode(z).shape == (2, 3, 32, 32)
        assert pipeline.decode_preview(z).shape == (2, 3, 32, 32)


def test_preview_settings_that_cannot_apply_are_refused_in_one_line(parts, in_process):
    with pytest.raises(UsageError, match="decodes 16-channel latents, StableDiffusionPipeline's have 4"):
        module(parts, preview_decoder=str(parts["tae16"])).models.load()
    with pytest.raises(UsageError, match="this search decodes no x0-preview"):
        module(parts, algorithm="random", preview_size=16)
    done = in_process("predict", "--model.pipeline", "shapes", "--model.algorithm", "smc", "--model.preview_decoder",
                   str(parts["tae"]), "--data.prompts", "a red circle")
    assert done.returncode == 2 and "applies to latent diffusion pipelines" in done.stderr
    assert "Traceback" not in done.stderr
