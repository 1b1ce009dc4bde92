"""DVC stage `download`: fetch the raw Fashion-MNIST files into data/raw/."""

from __future__ import annotations

import argparse
import logging

from fashion_dcgan.config import load_params
from fashion_dcgan.data.download import download_all
from fashion_dcgan.errors import entry_point

log = logging.getLogger("fashion_dcgan.stages.download")


@entry_point
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="data/raw")
    args = parser.parse_args(argv)
    data = load_params(args.params).data
    for name, source in download_all(args.out, data.sources, data.timeout_s, data.retries).items():
        log.info("%s: %s", name, source)


if __name__ == "__main__":
    main()
