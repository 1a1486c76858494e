"""The one exception family of `pixelprune`.

`PruneInputError` is also a `ValueError`, so callers that only know the standard library can
still catch bad input, while callers of this package can catch `PixelPruneError` for anything
it raises on purpose.
"""


class PixelPruneError(Exception):
    """Base of every error `pixelprune` raises on purpose."""


class PruneInputError(PixelPruneError, ValueError):
    """An image, array or option the selectors cannot take; says what is wrong and how to fix it."""
