"""Image preprocessing: Pillow's resize reproduced value for value, with a gradient."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from noisesearch.imaging import resize_like_pil


@pytest.mark.parametrize("source,target", [((384, 512), (224, 298)), ((512, 512), (224, 224)),
                                           ((100, 60), (224, 134)), ((37, 53), (200, 300))])
def test_resize_like_pil_equals_pillows_bicubic(source, target):
    generator = torch.Generator().manual_seed(sum(source))
    image = torch.randint(0, 256, (3, *source), generator=generator, dtype=torch.uint8)
    pil = Image.fromarray(image.permute(1, 2, 0).numpy()).resize(target[::-1], Image.BICUBIC)
    expected = torch.from_numpy(np.array(pil)).permute(2, 0, 1).float()
    ours = resize_like_pil(image[None].float() / 255, *target)[0] * 255
    assert torch.equal(ours.round(), expected)
    torch_bicubic = F.interpolate(image[None].float() / 255, size=target, mode="bicubic", antialias=True)[0] * 255
    assert not torch.equal(torch_bicubic.clamp(0, 255).round(), expected)  # the check can tell the two apart


def test_resize_like_pil_passes_gradients():
    pixels = torch.rand(1, 3, 50, 40, requires_grad=True)
    resize_like_pil(pixels, 30, 20).sum().backward()
    assert pixels.grad is not None and pixels.grad.abs().sum() > 0
