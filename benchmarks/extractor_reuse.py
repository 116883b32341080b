"""BigML's bindings' image featurizer pattern against a reused extractor, per image.

The bindings call ``create_image_feature_extractor(name, None)(path)`` for every image; a user
who keeps the extractor calls ``extractor(path)``. Pretrained networks are built once per weights
file and settings (`sensenet.models.built_cache`), so the first should cost little more than the
second (target: at most 2x). Also timed: the same call with the cache emptied before each one
(what every call cost before the cache). Weights are generated into a temporary cache directory,
nothing is downloaded. Medians of 7, the three taken in turn, after one warm-up call.

Run from the repository root: python3 -m benchmarks.extractor_reuse [network ...] (default mobilenetv2)
[--plot FILE.svg] (the figures drawn as a picture, benchmarks/plot.py).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile

from benchmarks.benchmark import FIXTURES, interleaved
from benchmarks.plot import Chart, plot_path

REPEAT = 7


def main(names: list[str], plot: str | None) -> None:
    chart = Chart("An image feature extractor per image, three ways (benchmarks/extractor_reuse.py)")
    from sensenet import pretrained
    from sensenet.models import extractor
    from sensenet.models.wrappers import create_image_feature_extractor
    from tests.pretrained_helpers import with_generated_weights

    image = str(FIXTURES / "images" / "dog.jpg")
    with tempfile.TemporaryDirectory() as cache:
        os.environ[pretrained.CACHE_PATH_VARIABLE] = cache
        for name in names:
            weights = with_generated_weights(pretrained.get_network(name))
            pretrained.write_weights(weights, pretrained.weights_path(name))
            reused = create_image_feature_extractor(name, None)

            def rebuilt(n=name):
                extractor._BUILT.clear()
                return create_image_feature_extractor(n, None)(image)

            times = interleaved(
                {
                    "reused": lambda e=reused: e(image),
                    "bindings": lambda n=name: create_image_feature_extractor(n, None)(image),
                    "rebuilt": rebuilt,
                },
                runs=REPEAT,
                warmup=1,
            )
            kept, bindings, uncached = (1000 * statistics.median(times[k]) for k in times)
            print(
                f"{name}: reused extractor {kept:.1f} ms/image; bindings' pattern {bindings:.1f} ms/image "
                f"({bindings / kept:.2f}x); rebuilt every call {uncached:.1f} ms/image "
                f"({uncached / kept:.1f}x)"
            )
            chart.add(name, "a reused extractor", kept, "ms/image")
            chart.add(name, "the bindings' pattern (one per call)", bindings, "ms/image")
            chart.add(name, "rebuilt every call (no cache)", uncached, "ms/image")
    if plot:
        chart.write(plot)


if __name__ == "__main__":
    plot, names = plot_path(sys.argv[1:])
    main(names or ["mobilenetv2"], plot)
