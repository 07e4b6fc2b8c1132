"""course_utils.outcomes: metrics are recorded and outcome checks fail with a clear message."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils import outcomes


def test_record_converts_scalars() -> None:
    out = outcomes.record(acc=torch.tensor(0.5), loss=np.float32(1.25), name="x", n=3)
    assert out == {"acc": 0.5, "loss": 1.25, "name": "x", "n": 3}


def test_small_values_keep_their_significant_digits() -> None:
    assert outcomes.record(err=1.4e-10)["err"] == 1.4e-10
    with pytest.raises(AssertionError, match="must be <= 1e-10"):
        outcomes.expect("err", 1.4e-10, at_most=1e-10)


def test_record_needs_a_metric() -> None:
    with pytest.raises(ValueError, match="at least one metric"):
        outcomes.record()


def test_expect_passes_and_records(capsys: pytest.CaptureFixture[str]) -> None:
    assert outcomes.expect("accuracy", 0.93, at_least=0.9) is None  # a cell ending with it shows no number
    assert "ok: accuracy" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"value": 0.5, "at_least": 0.9}, r"accuracy = 0.5, must be >= 0.9"),
        ({"value": 2.0, "at_most": 1.0}, r"accuracy = 2, must be <= 1.0"),
        ({"value": float("nan"), "at_least": 0.0}, "NaN"),
    ],
)
def test_expect_fails_with_the_value_and_the_bar(kwargs: dict, pattern: str) -> None:
    with pytest.raises(AssertionError, match=pattern):
        outcomes.expect("accuracy", **kwargs)


def test_expect_needs_a_bar() -> None:
    with pytest.raises(ValueError, match="needs a bar"):
        outcomes.expect("accuracy", 1.0)
