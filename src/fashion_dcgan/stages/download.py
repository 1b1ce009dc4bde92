"""DVC stage `download`: fetch the raw Fashion-MNIST files (mirror directories first, then HTTP)."""

from __future__ import annotations

import logging

from fashion_dcgan.config import load_params
from fashion_dcgan.data.download import download_all
from fashion_dcgan.errors import entry_point
from fashion_dcgan.stages import parse_args

log = logging.getLogger("fashion_dcgan.stages.download")
PARAMS = ("data.sources", "data.timeout_s", "data.retries")


@entry_point
def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__, argv, "out")
    data = load_params(args.params, PARAMS).data
    for name, source in download_all(args.out, data.sources, data.timeout_s, data.retries).items():
        log.info("%s: %s", name, source)


if __name__ == "__main__":
    main()
