"""course_utils: the small, tested support package of the course.

Modules, each named for what it holds:

- ``environment``: device choice, seeding, smoke mode, Colab/offline detection, version report.
- ``cache``: the cache folder and atomic writes (temp file or folder + rename).
- ``assets``: paths of the packaged pretrained models (encoder, causal LM converted from GGUF).
- ``data``: the course's real datasets (digits, tweets, surnames, Bible pairs, English text).
- ``loaders``: ``Dataset`` classes and collate functions that DataLoader workers must be able to pickle.
- ``classifier``: the fine-tuned sentiment classifier of notebook 07, built on demand and cached.
- ``tokenizer``: the BPE recipe of notebook 09 and the cached English-Spanish tokenizer.
- ``vision``: digit canvases for segmentation, pixel accuracy and IoU (notebook 04).
- ``text``: ``CharVocab``, the character vocabulary of notebook 05.
- ``training``: the canonical training loop taught in notebook 03b, reused by later notebooks.
- ``plotting``: training curves, image grids, confusion matrices, heatmaps.
- ``outcomes``: recording headline metrics and the outcome checks that end every notebook.
- ``runner``: executes notebooks headlessly with papermill and summarises the results.
- ``errors``: the exception types, each message naming the problem and the fix.
"""

__all__ = ["get_device", "seed_everything", "smoke_mode"]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """Import torch-dependent helpers on first use, so ``nbclean`` and the runner start without torch."""
    if name in __all__:
        from course_utils import environment

        return getattr(environment, name)
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")
