"""Notebook 00's checkers live in ``course_utils.checks_python`` (the module its notebook imports); importing
this module registers them as ``"00.<exercise>"`` like every other notebook's."""

from course_utils.checks_python import check_batches, check_count_calls, check_sliding_windows, check_temporarily

__all__ = ["check_batches", "check_count_calls", "check_sliding_windows", "check_temporarily"]
