"""`PruneConfig` and `parse_prune_spec`: a setting exists only when `select` would accept it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pixelprune import PruneConfig, PruneInputError, check_options, parse_prune_spec, select


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "nope"}, "unknown method"),
        ({"metric": "l7"}, "unknown metric"),
        ({"tau": -0.1}, "tau must be between 0 and 1"),
        ({"tau": float("nan")}, "tau must be between 0 and 1"),
        ({"tau": 1.5}, "tau must be between 0 and 1"),
        ({"tau": "x"}, "tau must be a number"),
        ({"tau": 0.1, "metric": "exact"}, "takes no tolerance"),
        ({"method": "global", "tau": 0.1}, "exact duplicates only"),
        ({"anchored": "yes"}, "anchored must be True or False"),
    ],
)
def test_a_config_select_would_refuse_cannot_be_made(options, message):
    with pytest.raises(PruneInputError, match=message):
        PruneConfig(**options)
    with pytest.raises(PruneInputError, match=message):  # the same words as select's own
        select(np.zeros((28, 28, 3), np.uint8), cell=28, **options)
    with pytest.raises(PruneInputError, match=message):
        dataclasses.replace(PruneConfig(), **options)


def test_a_made_config_is_one_select_runs_and_its_tau_is_a_float():
    config = PruneConfig(method="raster", tau=1, metric="mae", anchored=False)
    assert isinstance(config.tau, float) and config == PruneConfig("raster", 1.0, "mae", False)
    assert hash(config) == hash(PruneConfig("raster", 1.0, "mae", False))  # a cache key
    options = check_options(config.method, tau=config.tau, metric=config.metric, anchored=False)
    assert (options.tau, options.metric, options.anchored) == (1.0, "mae", False)


@pytest.mark.parametrize(
    ("text", "config"),
    [
        ("pred_2d", PruneConfig()),
        ("pred_2d:0.05", PruneConfig(tau=0.05)),
        (" raster:0.02:mae ", PruneConfig("raster", 0.02, "mae")),
        ("conncomp:", PruneConfig("conncomp")),
    ],
)
def test_the_spec_syntax(text, config):
    assert parse_prune_spec(text) == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected METHOD"),
        ("a:b:c:d", "expected METHOD"),
        ("pred_2d:lots", "is not a number"),
        ("pred_2d:0.1:exact", "takes no tolerance"),
        ("bogus", "unknown method"),
    ],
)
def test_a_bad_spec_quotes_itself(text, message):
    with pytest.raises(PruneInputError, match=message) as error:
        parse_prune_spec(text)
    assert repr(text) in str(error.value) and isinstance(error.value, ValueError)
