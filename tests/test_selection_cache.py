"""The selection cache: resent screenshots are not selected again, anything else is."""

from __future__ import annotations

from PIL import Image

from agent.backends.base import SelectionCache, select_cells
from pixelprune import PruneConfig, get_family

FAMILY = get_family("qwen2.5")


DEFAULT = PruneConfig()


def cells(images, prune=DEFAULT, cache=None):
    return select_cells(images, FAMILY, prune, min_pixels=3136, max_pixels=200_000, cache=cache)


def test_the_same_image_object_reuses_its_selection():
    cache = SelectionCache()
    first = Image.new("RGB", (300, 200), "white")
    second = first.copy()
    [a] = cells([first], cache=cache)
    [b, c] = cells([first, second], cache=cache)
    assert b is a and c is not a and (c.keep == a.keep).all()
    [d] = cells([first], PruneConfig(tau=0.02), cache=cache)
    assert d is not a and d.tau == 0.02


def test_a_recycled_id_never_matches_and_the_cache_stays_bounded():
    cache = SelectionCache(size=2)
    images = [Image.new("RGB", (300, 200), (i, i, i)) for i in range(3)]
    selections = [cells([image], cache=cache)[0] for image in images]
    assert cells([images[0]], cache=cache)[0] is not selections[0]  # evicted
    assert cells([images[2]], cache=cache)[0] is selections[2]
    gone = images.pop()
    key = id(gone)
    del gone
    stranger = Image.new("RGB", (300, 200), "black")
    if id(stranger) == key:  # CPython may reuse the address: the weak reference tells apart
        assert cache.get(stranger, (FAMILY.name, PruneConfig(), 3136, 200_000)) is None
    assert cells([stranger], cache=cache)[0] is not selections[2]
