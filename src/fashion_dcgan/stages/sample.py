"""DVC stage `sample`: draw from the trained generators.

Writes, under --out, the final fixed-noise grid, an 8x8 grid of fresh samples (also from the raw
generator, beside the moving average), and a latent walk as a grid and a GIF; and N samples from
each generator as .npy for evaluation, with the class each sample was drawn for (--labels; empty
for an unconditional generator). A class-conditional generator also gets class_grid.png: one row
per class, named, the same latents in each column.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fashion_dcgan.config import load_params
from fashion_dcgan.errors import entry_point
from fashion_dcgan.stages import parse_args

log = logging.getLogger("fashion_dcgan.stages.sample")
PARAMS = ("sample", "train.seed", "runtime.fixed_noise_size", "report.gif_frame_seconds")


@entry_point
def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__, argv, "generator", "generator_raw", "out", "samples", "samples_raw", "labels")
    params = load_params(args.params, PARAMS)

    import numpy as np

    from fashion_dcgan.data.fashion_mnist import CLASS_NAMES, NUM_CLASSES
    from fashion_dcgan.files import atomic_path
    from fashion_dcgan.gan.networks import is_conditional
    from fashion_dcgan.gan.sampling import (
        class_grid,
        cycled_labels,
        fixed_noise,
        generate,
        latent_walk,
        latents,
        render_grid,
    )
    from fashion_dcgan.imaging import label_rows, make_grid, save_gif, save_png, to_uint8
    from fashion_dcgan.modelfiles import latent_dim, load_generator

    generator, raw = load_generator(args.generator), load_generator(args.generator_raw)
    dim, cfg, out = latent_dim(generator), params.sample, Path(args.out)

    save_png(
        out / "fixed_noise_grid.png",
        render_grid(generator, fixed_noise(params.train.seed, params.runtime.fixed_noise_size, dim)),
    )
    fresh = latents(cfg.seed, 64, dim)
    save_png(out / "random_grid.png", render_grid(generator, fresh, cols=8))
    save_png(out / "random_grid_raw.png", render_grid(raw, fresh, cols=8))

    walk = to_uint8(generate(generator, latent_walk(cfg.seed, cfg.walk_rows, cfg.walk_steps, dim)))
    save_png(out / "latent_walk.png", make_grid(walk, cols=cfg.walk_steps))
    # Frame t of the GIF shows every row's walk at step t.
    rows = walk.reshape(cfg.walk_rows, cfg.walk_steps, *walk.shape[1:])
    frames = [make_grid(rows[:, t], cols=cfg.walk_rows) for t in range(cfg.walk_steps)]
    save_gif(out / "latent_walk.gif", frames + frames[-2:0:-1], params.report.gif_frame_seconds / 2)

    conditional = is_conditional(generator)
    if conditional:
        per_class = 10
        grid = make_grid(to_uint8(class_grid(generator, cfg.seed, per_class)), cols=per_class)
        save_png(out / "class_grid.png", label_rows(grid, CLASS_NAMES[:NUM_CLASSES]))

    # Both generators see the same latents (and classes), so their metrics differ only by the weights.
    evaluation_latents = latents(cfg.seed + 1, cfg.n_samples, dim)
    labels = cycled_labels(cfg.n_samples) if conditional else np.zeros(0, np.int32)
    for model, path in ((generator, args.samples), (raw, args.samples_raw)):
        with atomic_path(path) as tmp:
            np.save(tmp, generate(model, evaluation_latents, cfg.batch_size, labels=labels if conditional else None))
    with atomic_path(args.labels) as tmp:
        np.save(tmp, labels)
    log.info("wrote %d samples per generator to %s and grids to %s", cfg.n_samples, args.samples, out)


if __name__ == "__main__":
    main()
