"""The photo-spec catalogue of the stand-in.

The real vendor's ``spec_id`` catalogue is not public (its sales contact hands it out), so the stand-in
ships this small one. Sizes are the usual printed sizes at the usual scan resolution:

==  ======================  ============  ===========  ====  ===========
id  name                    size          pixels       dpi   head target
==  ======================  ============  ===========  ====  ===========
1   one-inch                25 x 35 mm    295 x 413    300   0.60
2   two-inch                35 x 49 mm    413 x 579    300   0.60
3   passport (ICAO)         35 x 45 mm    413 x 531    300   0.66
4   US passport / visa      2 x 2 in      600 x 600    300   0.60
5   small one-inch          22 x 32 mm    260 x 378    300   0.60
6   China resident ID card  26 x 32 mm    358 x 441    350   0.62
==  ======================  ============  ===========  ====  ===========

``head target`` is the head-height / photo-height ratio aimed at when the request carries no ``ratios``
(or leaves those entries at -1); ``top target`` (top margin / photo height) is 0.10 for every spec.
``width_px`` / ``height_px`` in a request override the spec's pixel size independently.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Spec:
    spec_id: int
    name: str
    width_px: int
    height_px: int
    dpi: int
    head_target: float = 0.60
    top_target: float = 0.10


CATALOGUE: dict[int, Spec] = {
    s.spec_id: s
    for s in (
        Spec(1, "one-inch", 295, 413, 300),
        Spec(2, "two-inch", 413, 579, 300),
        Spec(3, "passport", 413, 531, 300, head_target=0.66),
        Spec(4, "us-passport", 600, 600, 300),
        Spec(5, "small-one-inch", 260, 378, 300),
        Spec(6, "cn-id-card", 358, 441, 350, head_target=0.62),
    )
}

# The print sheet: 6 inch (4 x 6 in) landscape at 300 dpi, holding one-inch cells.
SHEET_SIZE_PX = (1800, 1200)
SHEET_CELL_PX = (295, 413)
SHEET_DPI = 300
