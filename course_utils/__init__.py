"""course_utils: the small, tested support package of the course.

Modules, each named for what it holds (the notebook that teaches or uses it in brackets):

Infrastructure
- ``environment``: device choice, seeding, smoke mode, Colab/offline/online detection, version report.
- ``cpu``: the one policy for CPU threads (runner, tests, Makefile, 03b).
- ``cache``: the cache folder, atomic writes, run folders and ``cached()``, the one way an artifact is built.
- ``bootstrap``: what the set-up cell installs in a fresh runtime (only the missing packages).
- ``setup_cell``: the Colab badge and the shared set-up cell, written into every notebook (``make sync``).
- ``hf``: ``quiet_transformers``, the one switch for transformers' logging and progress bars.
- ``progress_bars``: in a headless run (``COURSE_HEADLESS=1``), a bar is one finished line, not a frozen widget.
- ``errors``: the exception types, each message naming the problem and the fix; ``dependencies``: is a package
  installed (``require_package``, the one place that asks, with the pip command when it is not).
- ``validation``: the ``require_*`` helpers with which every public function checks its arguments before doing
  anything (the error names the argument, shows the value and says the fix; tests/test_bad_inputs.py).
- ``outcomes``: recording headline metrics and the outcome checks that end every notebook.
- ``runner``, ``bench``: headless execution with papermill, the summary table, ETA and the benchmark;
  ``fast_papermill``: papermill's command line without an unused 1.4 s import; ``syllabus``: the README's
  syllabus table (study time and prerequisites from the notebooks, run times from the last bench).
- ``nbclean``: clean-notebook checks (with nbstripout).
- ``practice``: the practice loop, one subpackage: ``grading`` (run_check, the registry), ``checks`` (one module of
  checkers per notebook, ``nb00`` to ``nb13``), ``timelimit`` (a learner's endless loop becomes feedback),
  ``reveal`` (predict-then-reveal), ``feedback`` (how values are shown), ``student`` (the student editions),
  ``references`` and ``solutions`` (reference solutions generated from the teacher notebooks),
  ``exercise_cells`` (an exercise cell never stops Run All) and ``progress`` (exercises passed, per notebook).
- ``lock``, ``doctor``, ``canary``: the tested environment (make lock, make doctor, make floor / canary).

Assets and data
- ``assets``: paths of the packaged pretrained models (encoder, causal LM converted from GGUF).
- ``data``: the course's datasets in one place; ``tweets``, ``surnames``, ``bible`` and ``splits`` hold them.

Lesson code reused by later notebooks (written in full in the notebook that teaches it)
- ``loaders``: ``Dataset`` classes and collate functions that DataLoader workers must be able to pickle (03b).
- ``training``: the canonical training loop (03b), for tuple and Hugging Face dict batches.
- ``text``: ``CharVocab``, the character vocabulary (05).
- ``vision``: digit canvases for segmentation (04).
- ``finetune``, ``classifier``: the fine-tuning recipe (07) and the cached sentiment classifier built with it.
- ``tokenizer``: the BPE recipe (09) and the cached English-Spanish tokenizer.
- ``attention``, ``transformer_blocks``: attention, positional encodings and residual blocks (10a).
- ``batching``, ``translation``: token-budget batching and the encoder-decoder translator (10b).
- ``post_training``: LoRA target, chat-data and reward checks (12).
- ``distributed``: launching torchrun runs safely from a notebook (13).
- ``plotting``: training curves, image grids, confusion matrices, heatmaps.
"""

import os as _os

__all__ = ["get_device", "seed_everything", "smoke_mode"]
__version__ = "0.1.0"

if _os.environ.get("COURSE_HEADLESS") == "1":  # a headless run saves finished bars, not frozen widgets
    from course_utils.progress_bars import install as _install_finished_bars

    _install_finished_bars()


def __getattr__(name: str) -> object:
    """Import torch-dependent helpers on first use, so ``nbclean`` and the runner start without torch."""
    if name in __all__:
        from course_utils import environment

        return getattr(environment, name)
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")
