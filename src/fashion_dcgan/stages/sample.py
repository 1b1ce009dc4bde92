"""DVC stage `sample`: draw from the trained generator.

Writes the final fixed-noise grid, an 8x8 grid of fresh samples, a latent
walk (grid and GIF) under reports/samples/, and N samples as
data/generated/samples.npy for evaluation.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fashion_dcgan.config import load_params
from fashion_dcgan.errors import entry_point
from fashion_dcgan.stages import parse_args

log = logging.getLogger("fashion_dcgan.stages.sample")


@entry_point
def main(argv: list[str] | None = None) -> None:
    args = parse_args(
        __doc__, argv, model="models/generator.keras", out="reports/samples", samples="data/generated/samples.npy"
    )
    params = load_params(args.params)

    import numpy as np

    from fashion_dcgan.files import atomic_path
    from fashion_dcgan.imaging import make_grid, save_gif, save_png, to_uint8
    from fashion_dcgan.modelfiles import latent_dim, load_generator
    from fashion_dcgan.sampling import fixed_noise, generate, latent_walk, render_grid

    generator = load_generator(args.model)
    dim, cfg, out = latent_dim(generator), params.sample, Path(args.out)
    rng = np.random.default_rng(cfg.seed)

    save_png(
        out / "fixed_noise_grid.png",
        render_grid(generator, fixed_noise(params.train.seed, params.train.fixed_noise_size, dim)),
    )
    save_png(out / "random_grid.png", render_grid(generator, rng.standard_normal((64, dim)).astype(np.float32), cols=8))

    walk = to_uint8(generate(generator, latent_walk(cfg.seed, cfg.walk_rows, cfg.walk_steps, dim)))
    save_png(out / "latent_walk.png", make_grid(walk, cols=cfg.walk_steps))
    # Frame t of the GIF shows every row's walk at step t.
    rows = walk.reshape(cfg.walk_rows, cfg.walk_steps, 28, 28)
    frames = [make_grid(rows[:, t], cols=cfg.walk_rows) for t in range(cfg.walk_steps)]
    save_gif(out / "latent_walk.gif", frames + frames[-2:0:-1], params.report.gif_frame_seconds / 2)

    latents = rng.standard_normal((cfg.n_samples, dim)).astype(np.float32)
    with atomic_path(args.samples) as tmp:
        np.save(tmp, generate(generator, latents, cfg.batch_size))
    log.info("wrote %d samples to %s and grids to %s", cfg.n_samples, args.samples, out)


if __name__ == "__main__":
    main()
