"""The photo-spec catalogue of the stand-in, derived from the layer's named specs (``idphoto.specs``).

The real vendor's ``spec_id`` catalogue is not public (its sales contact hands it out), so the stand-in
makes the specs the layer names, under the layer's ids: one catalogue, no second copy to drift. Each id
the layer uses is one entry here, with the pixel size and dpi of the specs that carry it (specs sharing
an id, e.g. ``passport-35x45`` and ``schengen-visa``, must agree: ``tests/unit/test_specs.py``):

==  ==================  ============  ===========  ====  ===========
id  name (first spec)   size          pixels       dpi   head target
==  ==================  ============  ===========  ====  ===========
1   cn-one-inch         25 x 35 mm    295 x 413    300   0.60
2   cn-two-inch         35 x 49 mm    413 x 579    300   0.60
3   cn-small-two-inch   35 x 45 mm    413 x 531    300   0.66
4   us-passport         2 x 2 in      600 x 600    300   0.60
5   cn-small-one-inch   22 x 32 mm    260 x 378    300   0.60
6   cn-id-card          26 x 32 mm    358 x 441    350   0.62
7   cn-large-one-inch   33 x 48 mm    390 x 567    300   0.64
8   cn-large-two-inch   35 x 53 mm    413 x 626    300   0.60
9   cn-teacher-exam     150 x 200 px  150 x 200    300   0.60
10  cn-cet              144 x 192 px  144 x 192    300   0.60
11  es-dni              26 x 32 mm    307 x 378    300   0.60
12  ca-passport         50 x 70 mm    591 x 827    300   0.60
13  mx-visa             31 x 39 mm    366 x 461    300   0.60
14  jp-visa             45 x 45 mm    531 x 531    300   0.60
==  ==================  ============  ===========  ====  ===========

A named spec with framing sends its rule as ``ratios`` (``idphoto.specs.PhotoSpec.ratios``); the crop
then meets every given range it can (``geometry.solve_crop``), and comes as close as it can to the others.
A face width is measured as the named specs of the id define it (``width_measure``: cheek to cheek,
or the head ear to ear for id 7, the exit-entry standard's head width).
``head target`` is the head-height / photo-height ratio aimed at when the request carries no ``ratios``
(or leaves those entries at -1); it is the stand-in's own imaging choice, not part of the layer's
catalogue. ``top target`` (top margin / photo height) is 0.10 for every spec. ``width_px`` /
``height_px`` in a request override the spec's pixel size independently.
"""

from dataclasses import dataclass
from typing import Final

from idphoto.specs import CATALOGUE as NAMED_SPECS
from idphoto.specs import width_measure


@dataclass(frozen=True, slots=True)
class Spec:
    spec_id: int
    name: str
    width_px: int
    height_px: int
    dpi: int
    head_target: float = 0.60
    top_target: float = 0.10
    # What a request's face-width ratios span: "face" (cheek to cheek) or "head" (ear to ear), as the
    # authorities behind this id define it (``idphoto.specs.width_measure``).
    width_measure: str = "face"


# Head height / photo height aimed at, by spec id, where 0.60 would be wrong for the spec: ICAO asks a
# 32-36 mm head on 45 mm, GA 461 about 0.62, the exit-entry guide 28-33 mm on 48 mm.
HEAD_TARGETS: Final[dict[int, float]] = {3: 0.66, 6: 0.62, 7: 0.64}


def _catalogue() -> dict[int, Spec]:
    catalogue: dict[int, Spec] = {}
    for named in NAMED_SPECS:  # the first spec naming an id names the entry
        catalogue.setdefault(
            named.spec_id,
            Spec(
                named.spec_id,
                named.name,
                named.width_px,
                named.height_px,
                named.dpi,
                head_target=HEAD_TARGETS.get(named.spec_id, 0.60),
                width_measure=width_measure(named.spec_id),
            ),
        )
    return dict(sorted(catalogue.items()))


CATALOGUE: dict[int, Spec] = _catalogue()

# The print sheet: 6 inch (4 x 6 in) landscape at 300 dpi, holding one-inch cells.
SHEET_SIZE_PX = (1800, 1200)
SHEET_CELL_PX = (295, 413)
SHEET_DPI = 300
