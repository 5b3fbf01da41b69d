"""Writes docs/clock_styles.png: the 16 styles of the default dataset, then 16 more drawn at random."""

import random

from shared.clocks import render_clock
from shared.images import make_grid

rng = random.Random(0)
styles = list(range(16)) + [rng.randrange(2**31) for _ in range(16)]
times = [(rng.randrange(12), rng.randrange(60)) for _ in styles]
images = [render_clock(h, m, style=s, size=64, seed=i) for i, (s, (h, m)) in enumerate(zip(styles, times))]
captions = [f"{'s' + str(s) if s < 16 else 'random'} {h or 12}:{m:02d}" for s, (h, m) in zip(styles, times)]
make_grid(
    images,
    captions,
    ncols=8,
    scale=2,
    title="qvae clock styles: the default dataset's 16 (top two rows) and 16 random ones",
).save("docs/clock_styles.png")
print("wrote docs/clock_styles.png")
