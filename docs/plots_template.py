"""Writes .dvc/plots.html: the page `dvc plots show` fills, with Vega, Vega-Lite and Vega-Embed inlined.

DVC's own page loads the three libraries from a CDN, so offline its charts stay blank. This template
has no ``{scripts}`` placeholder (where DVC puts those CDN tags): the charts draw with the network off.
.dvc/config points `plots.html_template` at it. The versions are the ones DVC's page asks for.

    make plots-template      # npm pack the three packages, then: python docs/plots_template.py DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

LIBRARIES = ("vega-5.20.2/build/vega.min.js", "vega-lite-5.2.0/build/vega-lite.min.js",
             "vega-embed-6.18.2/build/vega-embed.min.js")  # fmt: skip
PAGE = """<!DOCTYPE html>
<html>
<head>
    {{refresh_tag}}
    <meta charset="utf-8">
    <title>fashion-dcgan: DVC plots</title>
    <!-- Vega, Vega-Lite and Vega-Embed, inlined by docs/plots_template.py: no network needed. -->
{scripts}
    <style>
        body {{ font-family: system-ui, sans-serif; }}
        table {{ border-spacing: 15px; }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def main(packages: Path, out: Path) -> None:
    scripts = []
    for library in LIBRARIES:
        code = (packages / library).read_text(encoding="utf-8")
        if "</script" in code.lower():
            raise SystemExit(f"{library} contains </script>; it cannot be inlined as is")
        scripts.append(f"    <script>/* {library.split('/')[0]} */\n{code}\n    </script>")
    out.write_text(PAGE.format(scripts="\n".join(scripts)), encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else Path(".dvc/plots.html"))
