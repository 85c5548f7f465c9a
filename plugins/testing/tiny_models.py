"""Tiny models with random weights saved the way hub checkpoints are, for offline tests of the real loading code."""

from __future__ import annotations

import json
import string
from pathlib import Path


def save_tiny_clip(folder: Path) -> Path:
    """A transformers CLIP (32x32 images, a character-level BPE vocabulary) saved with ``save_pretrained``."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["<|startoftext|>", "<|endoftext|>", *string.ascii_lowercase, *(c + "</w>" for c in string.ascii_lowercase)]
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    text = dict(vocab_size=len(tokens), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                max_position_embeddings=32, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                  patch_size=8)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(folder)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def save_tiny_open_clip(folder: Path, seed: int = 0) -> Path:
    """An open_clip model (32x32 images, 16-d embeddings) saved as a ``local-dir:`` folder: config + safetensors."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model_cfg = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }
    preprocess_cfg = {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]}
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg,
                                                              "preprocess_cfg": preprocess_cfg}))
    torch.manual_seed(seed)
    model = open_clip.CLIP(**model_cfg)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return folder


def save_tiny_image_classifier(folder: Path, num_labels: int = 10) -> Path:
    """A transformers ViT image classifier (32x32, ``num_labels`` labels) with its image processor."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    folder = Path(folder)
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64, num_labels=num_labels)
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def save_tiny_dino(folder: Path) -> Path:
    """A transformers DINOv2 backbone (32x32) with its image processor."""
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    folder = Path(folder)
    config = Dinov2Config(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                          mlp_ratio=2)
    Dinov2Model(config).save_pretrained(folder)
    BitImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                      image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]).save_pretrained(folder)
    return folder


def save_tiny_stable_diffusion(folder: Path, scheduler: str = "ddim", prediction_type: str = "epsilon",
                               seed: int = 0) -> Path:
    """A Stable Diffusion 1.x-layout pipeline (32x32 images, 4x4x4 latents) saved with ``save_pretrained``.

    ``scheduler`` is ``ddim``, ``euler``, ``dpm`` (DPMSolverMultistep), ``heun`` or ``pndm``.
    """
    import torch
    from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler,
                           HeunDiscreteScheduler, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel)
    from transformers import CLIPTextModel

    folder = Path(folder)
    tokenizer, vocab = _tiny_clip_tokenizer(folder.parent / f".{folder.name}-vocab")
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(_clip_text_config(vocab, 16))
    unet = UNet2DConditionModel(
        sample_size=4, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16, attention_head_dim=4, norm_num_groups=8)
    vae = _tiny_vae()
    common = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", prediction_type=prediction_type)
    schedulers = {
        "ddim": lambda: DDIMScheduler(**common, clip_sample=False, set_alpha_to_one=False, steps_offset=1),
        "euler": lambda: EulerDiscreteScheduler(**common, steps_offset=1),
        "dpm": lambda: DPMSolverMultistepScheduler(**common),
        "heun": lambda: HeunDiscreteScheduler(**common, steps_offset=1),
        "pndm": lambda: PNDMScheduler(**common, skip_prk_steps=True, steps_offset=1),
    }
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=schedulers[scheduler](), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


def save_tiny_dit(folder: Path, seed: int = 0) -> Path:
    """A DiT pipeline (1000 classes + the null class, learned sigma, 32x32 images from 4x4x4 latents)."""
    import torch
    from diffusers import DDIMScheduler, DiTPipeline, DiTTransformer2DModel

    torch.manual_seed(seed)
    transformer = DiTTransformer2DModel(num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8,
                                        num_layers=1, sample_size=4, patch_size=2, num_embeds_ada_norm=1000,
                                        norm_num_groups=8)
    vae = _tiny_vae()
    scheduler = DDIMScheduler(beta_schedule="linear", clip_sample=False, set_alpha_to_one=True)
    DiTPipeline(transformer=transformer, vae=vae, scheduler=scheduler).save_pretrained(folder)
    return Path(folder)


def _tiny_clip_tokenizer(folder: Path, max_length: int = 16, first: tuple[str, ...] = ()):
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    tokens = [*first, "<|startoftext|>", "<|endoftext|>", *string.ascii_lowercase, *(c + "</w>" for c in string.ascii_lowercase)]
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=max_length), len(tokens)


def _clip_text_config(vocab: int, positions: int, **extra):
    """A one-layer, 16-wide CLIP text encoder config over the character vocabulary of ``_tiny_clip_tokenizer``."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                          num_attention_heads=2, max_position_embeddings=positions, bos_token_id=0, eos_token_id=1,
                          pad_token_id=1, **extra)


def _tiny_t5_tokenizer(max_length: int = 32):
    """A word-level T5-style tokenizer (pad 0, eos 1, unk 2) built with ``tokenizers``: no sentencepiece file."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "</s>", "<unk>", *string.ascii_lowercase, "a", "red", "cat", "two", "dogs", "blue", "square"]
    vocab = {word: i for i, word in enumerate(dict.fromkeys(words))}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>",
                                      unk_token="<unk>", model_max_length=max_length)
    return wrapped, len(vocab)


def _clip_and_t5_tokenizers(folder: Path, seed: int):
    """The folder, a CLIP tokenizer (77 tokens) and its vocabulary size, a T5 tokenizer and its; seeds torch."""
    import torch

    folder = Path(folder)
    tokenizer, vocab = _tiny_clip_tokenizer(folder.parent / f".{folder.name}-vocab", max_length=77)
    t5_tokenizer, t5_vocab = _tiny_t5_tokenizer()
    torch.manual_seed(seed)
    return folder, tokenizer, vocab, t5_tokenizer, t5_vocab


def _tiny_t5_encoder(vocab_size: int, width: int = 32):
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(vocab_size=vocab_size, d_model=width, d_kv=8, d_ff=37, num_layers=1, num_heads=2,
                                   decoder_start_token_id=0, pad_token_id=0, eos_token_id=1))


def _tiny_vae(latent_channels: int = 4, **extra):
    from diffusers import AutoencoderKL

    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=latent_channels,
                         block_out_channels=(8, 16, 16, 16), down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=8, sample_size=32, **extra)


def save_tiny_autoencoder_tiny(folder: Path, latent_channels: int = 4, seed: int = 0) -> Path:
    """A diffusers ``AutoencoderTiny`` (the TAESD / TAEF1 architecture, 8x upsampling) with random weights."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(seed)
    AutoencoderTiny(latent_channels=latent_channels, encoder_block_out_channels=(8, 8, 8, 8),
                    decoder_block_out_channels=(8, 8, 8, 8), num_encoder_blocks=(1, 1, 1, 1),
                    num_decoder_blocks=(1, 1, 1, 1)).save_pretrained(folder)
    return Path(folder)


def save_tiny_sdxl(folder: Path, seed: int = 0) -> Path:
    """A Stable Diffusion XL pipeline (two CLIP text encoders, text-time conditioning; 32x32 images)."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    folder = Path(folder)
    tokenizer, vocab = _tiny_clip_tokenizer(folder.parent / f".{folder.name}-vocab")
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=4, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=(2, 4), norm_num_groups=8, use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=8, projection_class_embeddings_input_dim=6 * 8 + 16)
    pipe = StableDiffusionXLPipeline(
        vae=_tiny_vae(), text_encoder=CLIPTextModel(_clip_text_config(vocab, 16)),
        text_encoder_2=CLIPTextModelWithProjection(_clip_text_config(vocab, 16, projection_dim=16)),
        tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet,
        scheduler=EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                         steps_offset=1, timestep_spacing="leading"))
    pipe.save_pretrained(folder)
    return folder


def save_tiny_sd3(folder: Path, seed: int = 0) -> Path:
    """A Stable Diffusion 3 pipeline (two CLIP encoders and a T5, flow matching; 32x32 images)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline
    from transformers import CLIPTextModelWithProjection

    folder, tokenizer, vocab, t5_tokenizer, t5_vocab = _clip_and_t5_tokenizers(folder, seed)
    transformer = SD3Transformer2DModel(sample_size=4, patch_size=1, in_channels=4, num_layers=1, attention_head_dim=8,
                                        num_attention_heads=2, caption_projection_dim=16, joint_attention_dim=32,
                                        pooled_projection_dim=32, out_channels=4)
    pipe = StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=_tiny_vae(shift_factor=0.0609, scaling_factor=1.5035, use_quant_conv=False, use_post_quant_conv=False),
        text_encoder=CLIPTextModelWithProjection(_clip_text_config(vocab, 77, projection_dim=16)), tokenizer=tokenizer,
        text_encoder_2=CLIPTextModelWithProjection(_clip_text_config(vocab, 77, projection_dim=16)),
        tokenizer_2=tokenizer,
        text_encoder_3=_tiny_t5_encoder(t5_vocab), tokenizer_3=t5_tokenizer)
    pipe.save_pretrained(folder)
    return folder


def save_tiny_flux(folder: Path, seed: int = 0) -> Path:
    """A FLUX.1-dev-layout pipeline (CLIP + T5 encoders, packed latents, distilled guidance; 32x32 images)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel

    folder, tokenizer, vocab, t5_tokenizer, t5_vocab = _clip_and_t5_tokenizers(folder, seed)
    clip = CLIPTextModel(_clip_text_config(vocab, 77))
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1,
                                         attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                         pooled_projection_dim=16, axes_dims_rope=[4, 4, 8], guidance_embeds=True)
    pipe = FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=_tiny_vae(shift_factor=0.1159,
                        scaling_factor=0.3611, use_quant_conv=False, use_post_quant_conv=False),
                        text_encoder=clip, tokenizer=tokenizer, text_encoder_2=_tiny_t5_encoder(t5_vocab),
                        tokenizer_2=t5_tokenizer, transformer=transformer)
    pipe.save_pretrained(folder)
    return folder


def save_tiny_pixart_sigma(folder: Path, seed: int = 0, sample_size: int = 32) -> Path:
    """A PixArt-Sigma pipeline (T5 encoder, learned sigma, DPM-Solver; 256x256, the smallest size it bins to; a
    ``sample_size`` other than 32, 64, 128 or 256 has no bins: the pipeline refuses it unless not binned)."""
    import torch
    from diffusers import DPMSolverMultistepScheduler, PixArtSigmaPipeline, PixArtTransformer2DModel

    folder = Path(folder)
    t5_tokenizer, t5_vocab = _tiny_t5_tokenizer()
    torch.manual_seed(seed)
    transformer = PixArtTransformer2DModel(sample_size=sample_size, num_layers=1, patch_size=2, attention_head_dim=8,
                                           num_attention_heads=2, caption_channels=32, in_channels=4,
                                           cross_attention_dim=16, out_channels=8, attention_bias=True,
                                           activation_fn="gelu-approximate", num_embeds_ada_norm=1000,
                                           norm_type="ada_norm_single", norm_elementwise_affine=False,
                                           norm_eps=1e-6)
    pipe = PixArtSigmaPipeline(tokenizer=t5_tokenizer, text_encoder=_tiny_t5_encoder(t5_vocab), vae=_tiny_vae(),
                               transformer=transformer, scheduler=DPMSolverMultistepScheduler())
    pipe.save_pretrained(folder)
    return folder


def save_tiny_sana(folder: Path, seed: int = 0) -> Path:
    """A Sana pipeline (a Gemma2 text encoder, a deep-compression autoencoder, linear-attention DiT; 32x32)."""
    import torch
    from diffusers import AutoencoderDC, FlowMatchEulerDiscreteScheduler, SanaPipeline, SanaTransformer2DModel
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import Gemma2Config, Gemma2Model, PreTrainedTokenizerFast

    words = ["<pad>", "<eos>", "<bos>", "<unk>", *string.ascii_lowercase, "a", "red", "cat", "two", "dogs"]
    vocab = {word: i for i, word in enumerate(dict.fromkeys(words))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>",
                                        bos_token="<bos>", unk_token="<unk>", model_max_length=300)
    torch.manual_seed(seed)
    text_encoder = Gemma2Model(Gemma2Config(vocab_size=len(vocab), hidden_size=16, intermediate_size=32,
                                            num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                            head_dim=8, pad_token_id=0, eos_token_id=1, bos_token_id=2))
    vae = AutoencoderDC(in_channels=3, latent_channels=4, attention_head_dim=2,
                        encoder_block_types=("ResBlock", "EfficientViTBlock"),
                        decoder_block_types=("ResBlock", "EfficientViTBlock"),
                        encoder_block_out_channels=(8, 8), decoder_block_out_channels=(8, 8),
                        encoder_qkv_multiscales=((), (5,)), decoder_qkv_multiscales=((), (5,)),
                        encoder_layers_per_block=(1, 1), decoder_layers_per_block=[1, 1],
                        downsample_block_type="conv", upsample_block_type="interpolate",
                        decoder_norm_types="rms_norm", decoder_act_fns="silu", scaling_factor=0.41407)
    transformer = SanaTransformer2DModel(in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=4,
                                         num_layers=1, num_cross_attention_heads=2, cross_attention_head_dim=4,
                                         cross_attention_dim=8, caption_channels=16, sample_size=16, patch_size=1)
    pipe = SanaPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0))
    pipe.save_pretrained(folder)
    return Path(folder)


def save_tiny_text_to_video(folder: Path, seed: int = 0) -> Path:
    """A text-to-video pipeline (ModelScope layout: a 3D UNet; 32x32 frames) whose ``latents=`` hold every frame."""
    import torch
    from diffusers import DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel
    from transformers import CLIPTextModel

    folder = Path(folder)
    tokenizer, vocab = _tiny_clip_tokenizer(folder.parent / f".{folder.name}-vocab")
    torch.manual_seed(seed)
    unet = UNet3DConditionModel(
        block_out_channels=(16, 32), layers_per_block=1, sample_size=4, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"), up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=16, attention_head_dim=4, norm_num_groups=8)
    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                              set_alpha_to_one=False)
    TextToVideoSDPipeline(vae=_tiny_vae(), text_encoder=CLIPTextModel(_clip_text_config(vocab, 16)),
                          tokenizer=tokenizer, unet=unet, scheduler=scheduler).save_pretrained(folder)
    return folder


VLM_CORPUS = ("Does this figure show a red circle, two blue squares, a photo of a cat? Please answer yes or no.",
              "Yes", "No", "USER: ASSISTANT: user assistant system")

# The prompt formats of the LLaVA-1.5 and Qwen2-VL chat templates, written for tiny processors saved offline
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() }}: "
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>\n{% endif %}{% endfor %}"
    "{% for item in message['content'] %}{% if item['type'] == 'text' %}{{ item['text'] }} {% endif %}{% endfor %}"
    "{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}")
QWEN2_VL_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def _byte_level_tokenizer(specials: list[str], **tokens):
    """A byte-level BPE (every text encodes) trained on a few sentences, with the given special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(VLM_CORPUS * 10, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **tokens)


def save_tiny_llava(folder: Path, seed: int = 0, chat_template: str | None = LLAVA_CHAT_TEMPLATE) -> Path:
    """A LLaVA (CLIP vision tower, Llama language model, 32x32 images) with its processor, ``save_pretrained``."""
    import torch
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    tokenizer = _byte_level_tokenizer(["<pad>", "<s>", "</s>", "<image>"], pad_token="<pad>", bos_token="<s>",
                                      eos_token="</s>")
    vision = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                              image_size=32, patch_size=8, projection_dim=16)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, pad_token_id=0,
                       bos_token_id=1, eos_token_id=2)
    config = LlavaConfig(vision_config=vision, text_config=text, vision_feature_layer=-1,
                         image_token_index=tokenizer.convert_tokens_to_ids("<image>"))
    torch.manual_seed(seed)
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    LlavaProcessor(image_processor=images, tokenizer=tokenizer, patch_size=8, vision_feature_select_strategy="full",
                   chat_template=chat_template).save_pretrained(folder)
    return Path(folder)


def save_tiny_qwen2_vl(folder: Path, seed: int = 0) -> Path:
    """A Qwen2-VL (dynamic-resolution vision tower, M-RoPE language model) with its processor, ``save_pretrained``."""
    import torch
    from transformers import (Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessor,
                              Qwen2VLProcessor, Qwen2VLVideoProcessor)

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
                "<|video_pad|>"]
    tokenizer = _byte_level_tokenizer(specials, pad_token="<|endoftext|>", eos_token="<|im_end|>")
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in specials}
    text = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
                rope_scaling={"type": "mrope", "mrope_section": [1, 1, 2]})
    vision = dict(depth=1, embed_dim=16, hidden_size=32, num_heads=2, patch_size=4, spatial_merge_size=2,
                  temporal_patch_size=2, in_channels=3, mlp_ratio=2)
    config = Qwen2VLConfig(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                           video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                           vision_end_token_id=ids["<|vision_end|>"])
    torch.manual_seed(seed)
    Qwen2VLForConditionalGeneration(config).save_pretrained(folder)
    images = Qwen2VLImageProcessor(min_pixels=16 * 16, max_pixels=32 * 32, patch_size=4, merge_size=2,
                                   temporal_patch_size=2)
    videos = Qwen2VLVideoProcessor(min_pixels=16 * 16, max_pixels=32 * 32, patch_size=4, merge_size=2,
                                   temporal_patch_size=2)
    Qwen2VLProcessor(image_processor=images, tokenizer=tokenizer, video_processor=videos,
                     chat_template=QWEN2_VL_CHAT_TEMPLATE).save_pretrained(folder)
    return Path(folder)


def save_tiny_owlv2(folder: Path, seed: int = 0) -> Path:
    """An OWLv2 zero-shot detector (32x32 images, 16 patches, character-level CLIP text tower), ``save_pretrained``."""
    import torch
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    # OWL masks queries whose first token is id 0, so id 0 is a plain character here as in CLIP's vocabulary
    tokenizer, vocab = _tiny_clip_tokenizer(Path(folder), max_length=48, first=("!",))
    text = dict(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                max_position_embeddings=48, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                  patch_size=8)
    torch.manual_seed(seed)
    Owlv2ForObjectDetection(Owlv2Config(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(folder)
    Owlv2Processor(image_processor=Owlv2ImageProcessor(size={"height": 32, "width": 32}),
                   tokenizer=tokenizer).save_pretrained(folder)
    return Path(folder)


PALIGEMMA_TEMPLATE = ("<image>{% for item in messages[0]['content'] %}{% if item['type'] == 'text' %}answer en "
                      "{{ item['text'] }}{% endif %}{% endfor %}")


def save_tiny_paligemma(folder: Path, seed: int = 0) -> Path:
    """A PaliGemma (SigLIP vision tower, Gemma prefix-LM, no chat template) with its processor, ``save_pretrained``."""
    import torch
    from transformers import (GemmaConfig, PaliGemmaConfig, PaliGemmaForConditionalGeneration, PaliGemmaProcessor,
                              SiglipImageProcessor, SiglipVisionConfig)

    tokenizer = _byte_level_tokenizer(["<pad>", "<bos>", "<eos>", "<image>"], pad_token="<pad>", bos_token="<bos>",
                                      eos_token="<eos>")
    vision = SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                image_size=32, patch_size=8, projection_dim=32)
    text = GemmaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=1, head_dim=16, pad_token_id=0, bos_token_id=1,
                       eos_token_id=2)
    config = PaliGemmaConfig(vision_config=vision, text_config=text, projection_dim=32,
                             image_token_index=tokenizer.convert_tokens_to_ids("<image>"))
    torch.manual_seed(seed)
    PaliGemmaForConditionalGeneration(config).save_pretrained(folder)
    images = SiglipImageProcessor(size={"height": 32, "width": 32})
    images.image_seq_length = (32 // 8) ** 2
    PaliGemmaProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return Path(folder)
