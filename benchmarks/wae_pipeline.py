"""WAE image pipeline speed: folder decoding at start and batches/s from the tf.data pipeline (JSON lines).

The trainer decodes every image once (`wae_style.data.load_sources`), then draws batches
from memory (`MixedPipeline.dataset`). Compare the pipeline's images/s with the training
step's (benchmarks/train_wae.py): the pipeline keeps up when it is many times faster.

  .venv/bin/python -m benchmarks.wae_pipeline --data_dir=../shared/data/image_corpus/celeba \
      --data_dir=../shared/data/image_corpus/imagenet_samples --image_crop=center
"""

import argparse
import dataclasses
import time

from benchmarks import timing
from wae_style import configs
from wae_style import data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", action="append", default=None,
                        help="image folder (repeat; default: builtin)")
    parser.add_argument("--image_crop", default="resize", choices=("resize", "center"))
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=50, help="batches per timed rep")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    config = dataclasses.replace(configs.WAEConfig.testing(), image_crop=args.image_crop,
                                 data=tuple(args.data_dir or ("builtin",)))

    t0 = time.perf_counter()
    sources = data.load_sources(config)
    load_s = time.perf_counter() - t0
    n = sum(len(a) + len(e) for a, e in zip(sources.train, sources.eval) if a is not None)
    timing.emit("wae_pipeline_load_images_per_s", "images/s", [n / load_s], images=n,
                seconds=round(load_s, 2), sources=len(sources.names), **timing.machine())

    pipe = data.MixedPipeline(sources, args.batch_size, seed=0)
    it = iter(pipe.dataset())

    def run():
        for _ in range(args.batches):
            next(it)

    times = timing.time_reps(run, reps=args.reps, warmup=1)
    timing.emit("wae_pipeline_batches_images_per_s", "images/s",
                timing.rates(times, args.batches * args.batch_size),
                batch_size=args.batch_size, batches=args.batches)


if __name__ == "__main__":
    main()
