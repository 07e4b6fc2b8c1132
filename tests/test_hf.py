"""quiet_transformers: silences transformers (and optionally datasets) and, as a context manager, restores them."""

from __future__ import annotations

import pytest
from datasets.utils import logging as ds_logging
from transformers.utils import logging as hf_logging

from course_utils.hf import quiet_transformers


@pytest.fixture
def loud() -> None:
    """Start from transformers' defaults (warnings shown, bars on) and leave them so afterwards."""
    hf_logging.set_verbosity_warning()
    hf_logging.enable_progress_bar()
    ds_logging.enable_progress_bar()
    yield
    hf_logging.set_verbosity_warning()
    hf_logging.enable_progress_bar()
    ds_logging.enable_progress_bar()


def test_as_a_block_it_restores_the_callers_settings(loud: None) -> None:
    with quiet_transformers(datasets=True):
        assert hf_logging.get_verbosity() == hf_logging.ERROR
        assert not hf_logging.is_progress_bar_enabled() and not ds_logging.is_progress_bar_enabled()
    assert hf_logging.get_verbosity() == hf_logging.WARNING
    assert hf_logging.is_progress_bar_enabled() and ds_logging.is_progress_bar_enabled()


def test_called_alone_it_stays_quiet_and_leaves_datasets_alone(loud: None) -> None:
    quiet_transformers()
    assert hf_logging.get_verbosity() == hf_logging.ERROR and not hf_logging.is_progress_bar_enabled()
    assert ds_logging.is_progress_bar_enabled()


def test_a_quiet_caller_stays_quiet_after_a_block(loud: None) -> None:
    hf_logging.disable_progress_bar()
    with quiet_transformers():
        pass
    assert not hf_logging.is_progress_bar_enabled()
