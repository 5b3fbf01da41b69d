"""Conversions between PIL / uint8 images and model tensors, and captioned grids.

Inside models an image is ``float32 [B, 3, H, W]`` in ``[-1, 1]``; at the edges it is a
PIL image or a ``uint8`` array. Every conversion in the project goes through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


def to_tensor(images, size: int | tuple[int, int] | None = None) -> torch.Tensor:
    """PIL image(s) or uint8 array(s) ``[H, W, 3]`` -> ``float32 [B, 3, H, W]`` in ``[-1, 1]``.

    Non-RGB PIL images (L, RGBA, P, ...) are converted to RGB. With ``size`` the images
    are resized (bicubic); without it they must all share one size.
    """
    if isinstance(images, (Image.Image, np.ndarray)):
        images = [images]
    arrays = []
    for img in images:
        if isinstance(img, Image.Image):
            img = img.convert("RGB")
            if size is not None:
                wh = (size, size) if isinstance(size, int) else (size[1], size[0])
                if img.size != wh:
                    img = img.resize(wh, Image.BICUBIC)
            img = np.asarray(img)
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"expected an RGB image as uint8 [H, W, 3], got {img.dtype} {tuple(img.shape)}")
        arrays.append(img)
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"images differ in size {sorted(shapes)}; pass size= to resize them")
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()
    return batch / 127.5 - 1.0


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """``float [B, 3, H, W]`` in ``[-1, 1]`` -> ``uint8 [B, H, W, 3]`` (clamped, rounded)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images as [B, 3, H, W], got {tuple(images.shape)}")
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    """``float [B, 3, H, W]`` in ``[-1, 1]`` -> a list of RGB PIL images."""
    return [Image.fromarray(a) for a in to_uint8(images)]


def pad_to_square(image: Image.Image, side: int) -> Image.Image:
    """``image`` as an RGB ``side x side`` square: a wide or tall one padded first (its edge pixels
    repeated, centred, so a round dial stays round), then resized (bicubic)."""
    image = image.convert("RGB")
    w, h = image.size
    if w != h:
        s = max(w, h)
        x, y = (s - w) // 2, (s - h) // 2
        image = Image.fromarray(np.pad(np.asarray(image), ((y, s - h - y), (x, s - w - x), (0, 0)), mode="edge"))
    return image if image.size == (side, side) else image.resize((side, side), Image.BICUBIC)


def crop_from_square(image: Image.Image, width: int, height: int) -> Image.Image:
    """The inverse of ``pad_to_square``: a ``width x height`` picture from the square made of one."""
    s = max(width, height)
    k = image.width / s  # the square's pixels per original pixel
    left, top = (s - width) // 2 * k, (s - height) // 2 * k
    return image.resize((width, height), Image.LANCZOS, box=(left, top, left + width * k, top + height * k))


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB between two batches in ``[-1, 1]`` (peak-to-peak range 2)."""
    mse = (a.float() - b.float()).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(4.0 / mse)


@lru_cache(maxsize=16)
def thumbnail(images: torch.Tensor, side: int = 16) -> torch.Tensor:
    """``images`` (``[N, C, H, W]`` in ``[-1, 1]``) through a ``side x side`` bicubic thumbnail and back:
    the baseline a tokenizer's reconstructions are compared with (``side * side * 24`` bits)."""
    import torch.nn.functional as F

    small = F.interpolate(images, size=(side, side), mode="bicubic", antialias=True, align_corners=False)
    return F.interpolate(small, size=images.shape[-2:], mode="bicubic", align_corners=False).clamp(-1, 1)


def font(size: int) -> ImageFont.ImageFont:
    """The default font at ``size`` pixels (a fixed bitmap font where Pillow lacks FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType
        return ImageFont.load_default()


def make_grid(
    images: Sequence[Image.Image],
    captions: Sequence[str] | None = None,
    ncols: int | None = None,
    scale: int = 2,
    pad: int = 4,
    title: str | None = None,
) -> Image.Image:
    """Tile images into one picture, each with its caption underneath.

    ``scale`` enlarges the tiles (nearest neighbour, so pixels stay honest);
    ``ncols`` defaults to a near-square layout.
    """
    if not images:
        raise ValueError("make_grid needs at least one image")
    if captions is not None and len(captions) != len(images):
        raise ValueError(f"{len(images)} images but {len(captions)} captions")
    ncols = ncols or int(np.ceil(np.sqrt(len(images))))
    nrows = int(np.ceil(len(images) / ncols))
    tiles = [img.convert("RGB").resize((img.width * scale, img.height * scale), Image.NEAREST) for img in images]
    tw = max(t.width for t in tiles)
    th = max(t.height for t in tiles)
    font_size = max(10, min(16, tw // 8))
    font_ = font(font_size)
    cap_h = font_size + 6 if captions is not None else 0
    top = font_size + 10 if title else 0
    grid = Image.new("RGB", (ncols * (tw + pad) + pad, top + nrows * (th + cap_h + pad) + pad), "white")
    draw = ImageDraw.Draw(grid)
    if title:
        draw.text((pad, 4), title, fill="black", font=font_)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, ncols)
        x, y = pad + c * (tw + pad), top + pad + r * (th + cap_h + pad)
        grid.paste(tile, (x, y))
        if captions is not None:
            text = str(captions[i])
            while len(text) > 1 and draw.textlength(text, font=font_) > tw:
                text = text[:-1]
            w = draw.textlength(text, font=font_)
            draw.text((x + (tw - w) / 2, y + th + 2), text, fill="black", font=font_)
    return grid
