"""Verifier ``vqascore``: VQAScore (Lin et al. 2024), the log-probability that a local VLM answers "Yes"."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Optional, Sequence

import torch

from noisesearch.plugin import Condition, UsageError, Verifier, judged_frames, parse_options

from .hf_models import load_pretrained

QUESTION = 'Does this figure show "{prompt}"? Please answer yes or no.'
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def answer_text(chat_prompt: str, answer: str) -> str:
    """The answer as the assistant's first word: a space first when the chat prompt ends inside a line."""
    return answer if not chat_prompt or chat_prompt[-1].isspace() or answer[:1].isspace() else " " + answer


class VQAScoreVerifier(Verifier):
    """VQAScore: log P(answer | image, question about the prompt) under any transformers image-text-to-text VLM.

    Spec ``vqascore:model=ID_OR_FOLDER,question=...,answer=Yes,template=FILE.jinja,dtype=fp32|bf16|fp16``. The
    question (``{prompt}`` is the prompt) goes through the processor's own chat template (or ``template``) as one user
    turn holding the image and the question; the score sums the log-probabilities of the answer's tokens after the
    generation prompt. Gradients reach the pixels where the model's image processor works on tensors.
    """

    name = "vqascore"
    condition_kinds = ("prompt",)
    differentiable = True

    def __init__(self, spec: Optional[str] = None):
        super().__init__(spec)
        from transformers import AutoModelForImageTextToText, AutoProcessor

        options = parse_options(self.name, spec, {"model": None, "question": QUESTION, "answer": "Yes",
                                                  "template": None, "dtype": "fp32", "frames": "8"},
                                positional="model")
        if not options["model"]:
            raise UsageError("verifier 'vqascore' needs a model: vqascore:MODEL (a hub id such as "
                             "Qwen/Qwen2.5-VL-7B-Instruct or a local folder)")
        if options["dtype"] not in DTYPES:
            raise UsageError(f"vqascore dtype {options['dtype']!r}: use one of {', '.join(DTYPES)}")
        if "{prompt}" not in options["question"]:
            raise UsageError(f"vqascore question {options['question']!r} has no {{prompt}} to put the prompt in")
        self.question, self.answer = options["question"], options["answer"]
        self.processor = load_pretrained(AutoProcessor, options["model"], "VLM processor")
        self.tokenizer = getattr(self.processor, "tokenizer", None)
        if self.tokenizer is None or getattr(self.processor, "image_processor", None) is None:
            raise UsageError(f"{options['model']!r} has no image-and-text processor; vqascore needs a VLM "
                             "(an image-text-to-text model)")
        self.tokenizer.padding_side = "right"  # causal rows are unaffected by padding that follows them
        self.model = load_pretrained(AutoModelForImageTextToText, options["model"], "VLM",
                                     use_safetensors=True, dtype=DTYPES[options["dtype"]])
        self.model.eval().requires_grad_(False)
        self.template = self._chat_template(options["template"], options["model"])
        self._keeps_logits = "logits_to_keep" in inspect.signature(self.model.forward).parameters
        # prefix-LM families (PaliGemma) take the answer as the processor's ``suffix``: it marks the tokens that
        # attend causally, and the processor puts its own separator before them
        self._suffix = "suffix" in inspect.signature(type(self.processor).__call__).parameters
        self._prompts: dict[tuple[str, str], tuple[str, list[int]]] = {}
        # a VLM whose processor takes videos (Qwen2-VL, Qwen2.5-VL, LLaVA-OneVision...) watches a clip as one video
        self.watches_clips = getattr(self.processor, "video_processor", None) is not None
        if not options["frames"].isdigit() or int(options["frames"]) < 1:
            raise UsageError(f"vqascore frames={options['frames']!r}: give how many frames of a clip the VLM sees")
        self.frames = int(options["frames"])
        self.differentiable = self._passes_gradients()

    def _chat_template(self, file: Optional[str], model: str) -> Optional[str]:
        if file is not None:
            path = Path(file).expanduser()
            if not path.is_file():
                raise UsageError(f"vqascore template {file!r} does not exist; give a Jinja chat template file")
            return path.read_text(encoding="utf-8")
        if not getattr(self.processor, "chat_template", None):
            raise UsageError(f"VLM {model!r} has no chat template; give one: vqascore:model={model},"
                             "template=FILE.jinja")
        return None

    def _passes_gradients(self) -> bool:
        """Whether the image processor keeps the autograd graph (torchvision-backed processors do, PIL ones not)."""
        probe = torch.full((1, 3, 8, 8), 0.5, requires_grad=True)
        pixels = self._inputs(probe, [Condition(prompt="a probe")])
        return any(torch.is_tensor(value) and value.requires_grad for value in pixels.values())

    def _chat_prompt(self, prompt: str, kind: str = "image") -> tuple[str, list[int]]:
        """The text handed to the processor (ending in the answer, except as a suffix) and the answer's token ids;
        ``kind`` ``video`` for a clip."""
        key = (prompt, kind)
        if key not in self._prompts:
            messages = [{"role": "user", "content": [{"type": kind},
                                                     {"type": "text", "text": self.question.format(prompt=prompt)}]}]
            head = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False,
                                                      chat_template=self.template)
            if self._suffix:
                answer = self.tokenizer(self.answer, add_special_tokens=False)["input_ids"]
                self._prompts[key] = (head, answer)
                return self._prompts[key]
            full = head + answer_text(head, self.answer)
            before = self.tokenizer(head, add_special_tokens=False)["input_ids"]
            after = self.tokenizer(full, add_special_tokens=False)["input_ids"]
            if after[: len(before)] != before or len(after) == len(before):
                raise UsageError(f"vqascore answer {self.answer!r} merges with the end of the chat prompt when "
                                 "tokenized; give another answer= or template=")
            self._prompts[key] = (full, after[len(before):])
        return self._prompts[key]

    def _inputs(self, images: torch.Tensor, conditions: Sequence[Condition]) -> dict:
        kind = "video" if images.dim() == 5 else "image"
        texts = [self._chat_prompt(condition.prompt, kind)[0] for condition in conditions]
        extra = {"suffix": [self.answer] * len(texts)} if self._suffix else {}
        if kind == "video":  # a clip: ``frames`` of its frames, evenly spaced with the first and last
            extra["videos"] = [clip[judged_frames(clip.shape[0], self.frames)].float() for clip in images]
        else:
            extra["images"] = list(images.float())
        inputs = self.processor(text=texts, return_tensors="pt", padding=True, do_rescale=False, **extra)
        inputs.pop("labels", None)
        return dict(inputs)

    def score(self, images: torch.Tensor, conditions: Sequence[Condition]) -> torch.Tensor:
        kind = "video" if images.dim() == 5 else "image"
        answers = [self._chat_prompt(condition.prompt, kind)[1] for condition in conditions]
        parameter = next(self.model.parameters())
        inputs = {key: value.to(parameter.device, parameter.dtype if value.is_floating_point() else value.dtype)
                  for key, value in self._inputs(images, conditions).items()}
        ids = inputs["input_ids"]
        span = max(len(answer) for answer in answers)
        lengths = torch.tensor([len(answer) for answer in answers], device=ids.device)
        offsets = torch.arange(span, device=ids.device)
        if self._suffix:  # the answer starts where the suffix does
            starts = (inputs["token_type_ids"] == 1).int().argmax(dim=1)
        else:  # the answer's tokens are the last of each row (rows are padded on the right)
            starts = inputs["attention_mask"].sum(dim=1) - lengths
        valid = offsets[None, :] < lengths[:, None]
        targets = torch.where(valid, starts[:, None] + offsets[None, :], starts[:, None])
        expected = torch.tensor([answer + answer[:1] * (span - len(answer)) for answer in answers], device=ids.device)
        if not torch.equal(torch.where(valid, ids.gather(1, targets), expected), expected):
            raise UsageError("the VLM's processor changed the text after the question, so vqascore cannot find the "
                             "answer's tokens; give a template= that ends where the answer begins")
        positions = targets - 1  # each token is predicted at the position before it
        if self._keeps_logits:
            logits = self.model(**inputs, logits_to_keep=positions).logits.float()
        else:
            logits = self.model(**inputs).logits.float()
            logits = logits[torch.arange(ids.shape[0], device=ids.device)[:, None], positions]
        chosen = logits.log_softmax(dim=-1).gather(-1, ids.gather(1, targets)[..., None])[..., 0]
        return (chosen * valid).sum(dim=1)
