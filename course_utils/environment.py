"""Where the code runs: device choice, seeding, run mode, Colab/offline detection and a version report.

Every notebook starts with the same three calls (``smoke_mode``, ``seed_everything``, ``get_device``) so that
it runs the same way on a laptop, in Colab, on a GPU box and in CI.
"""

from __future__ import annotations

import os
import random
import socket
import sys
import warnings
from dataclasses import dataclass
from importlib import metadata

import numpy as np
import torch
from packaging.version import Version

from course_utils import pinned
from course_utils.errors import UnknownNameError
from course_utils.validation import require_seed

SMOKE_ENV = "COURSE_SMOKE"
SEED_ENV = "COURSE_SEED"
OFFLINE_ENVS = ("COURSE_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# The main libraries' supported ranges [lower, upper), read from course_utils/pinned.py (generated from
# requirements.txt by `make lock`), so the version report and the requirements can never disagree.
MAIN_LIBRARIES = ("torch", "torchvision", "transformers", "datasets", "tokenizers", "accelerate", "numpy", "matplotlib")


def _bounds(spec: str) -> tuple[str, str]:
    parts = dict((p[:2], p[2:]) if p[1] == "=" else (p[:1], p[1:]) for p in spec.split(","))
    return parts[">="], parts["<"]


TESTED: dict[str, tuple[str, str]] = {name: _bounds(pinned.RANGES[name]) for name in MAIN_LIBRARIES}


def smoke_mode(value: bool | str | int | None = None) -> bool:
    """Return True when the notebook should run in smoke mode (tiny data, few steps, every code path).

    ``value`` wins when given (a papermill parameter); otherwise the ``COURSE_SMOKE`` environment variable
    decides, so that plain ``pytest --nbmake`` runs get smoke mode too.
    """
    raw = value if value is not None else os.environ.get(SMOKE_ENV, "0")
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"cannot read smoke mode from {raw!r}: use 1/0, true/false, yes/no (e.g. {SMOKE_ENV}=1)")


def course_seed(value: int | None = None) -> int:
    """The notebook's seed: ``value`` when given (the parameters cell, or papermill's ``-p SEED``), otherwise the
    ``COURSE_SEED`` environment variable, otherwise 0.

    CI runs the student editions with ``COURSE_SEED=1`` and the teacher editions with 0, so every outcome check
    is proven on two seeds at no extra cost: a bar that holds for seed 0 only is a defect.
    """
    if value is not None:
        return require_seed("SEED", value)
    raw = os.environ.get(SEED_ENV, "").strip()
    if not raw:
        return 0
    try:
        return require_seed(SEED_ENV, int(raw))
    except ValueError:
        raise ValueError(f"{SEED_ENV}={raw!r} is not a seed: use a whole number from 0 to 2**32 - 1 "
                         f"(e.g. {SEED_ENV}=1), or unset it for 0") from None


def seed_everything(seed: int = 0, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) and return a seeded ``torch.Generator``.

    Pass the generator to ``DataLoader(generator=...)``: the loader draws its shuffle order and its workers'
    base seed from it, so batches and augmentation repeat on every rerun (notebook 03b). With ``deterministic``
    (the default) it also changes three settings, which :func:`deterministic_settings` lists:

    - ``torch.use_deterministic_algorithms(True, warn_only=True)``: operations with a deterministic kernel use
      it (mostly CUDA ones: scatter/index adds, cumsum, convolutions' cuDNN algorithms), those without one warn;
      on any device, ``torch.empty`` and friends then fill new memory with NaN (a cost, measured in 03b);
    - ``torch.backends.cudnn.benchmark = False``: cuDNN does not time several convolution algorithms and keep
      the fastest (which may differ between runs);
    - ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` unless already set: cuBLAS needs it for reproducible matrix products
      on CUDA; it is read when cuBLAS starts, so it only counts before the first GPU matrix product.
    """
    seed = require_seed("seed", seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        use_deterministic_algorithms()
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return torch.Generator().manual_seed(seed)


def deterministic_settings() -> dict[str, object]:
    """The reproducibility settings in effect now (what :func:`seed_everything` sets), name -> value."""
    return {
        "torch.are_deterministic_algorithms_enabled()": torch.are_deterministic_algorithms_enabled(),
        "torch.is_deterministic_algorithms_warn_only_enabled()": torch.is_deterministic_algorithms_warn_only_enabled(),
        "torch.utils.deterministic.fill_uninitialized_memory":
            torch.utils.deterministic.fill_uninitialized_memory,  # type: ignore[attr-defined]
        "torch.backends.cudnn.benchmark": torch.backends.cudnn.benchmark,
        "torch.backends.cudnn.deterministic": torch.backends.cudnn.deterministic,
        "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "TORCHINDUCTOR_DETERMINISTIC": os.environ.get("TORCHINDUCTOR_DETERMINISTIC"),
    }


def use_deterministic_algorithms() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)``, without importing torch's compiler.

    The public call also sets the compiler's (inductor's) ``deterministic`` option, and to do so imports
    ``torch._inductor.config``: 1.4 s on a 2-core CPU, in every notebook, most of which never compile. When
    the compiler is not loaded yet, this sets the same kernel flag and hands the compiler its option through
    the variable it reads when it loads (``TORCHINDUCTOR_DETERMINISTIC=1``), so a later ``torch.compile`` is
    deterministic too. Once the compiler is loaded, or where torch lacks the flag's setter, it makes the
    public call.
    """
    set_flag = getattr(torch._C, "_set_deterministic_algorithms", None)
    if set_flag is None or "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(True, warn_only=True)
        return
    os.environ["TORCHINDUCTOR_DETERMINISTIC"] = "1"
    set_flag(True, warn_only=True)


class RandomDraws(torch.utils.data.Dataset):
    """A probe for DataLoader workers (notebook 03b): item ``i`` is one draw from each global generator of the
    process that loads it, ``[worker id (-1: main process), random.random(), numpy.random.random(), torch.rand()]``.

    It lives in a module so that a worker started with ``spawn`` (macOS, Windows) can import it.
    """

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> torch.Tensor:
        info = torch.utils.data.get_worker_info()
        worker = -1 if info is None else info.id
        return torch.tensor([worker, random.random(), np.random.random(), torch.rand(()).item()], dtype=torch.float64)


def get_device(prefer: str | None = None) -> torch.device:
    """Pick the best available device: CUDA, then Apple's MPS, then CPU.

    ``prefer`` ("cuda", "mps" or "cpu") forces a choice, and fails clearly when it is not available.
    The environment variable ``COURSE_DEVICE`` does the same for a whole run.
    """
    prefer = prefer or os.environ.get("COURSE_DEVICE") or None
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": _mps_available()}
    if prefer is not None:
        if prefer not in available:
            raise UnknownNameError("device", prefer, list(available))
        if not available[prefer]:
            raise RuntimeError(f"device {prefer!r} is not available on this machine; use get_device() to pick one")
        return torch.device(prefer)
    for name in ("cuda", "mps"):
        if available[name]:
            return torch.device(name)
    return torch.device("cpu")


def native_bf16(device: torch.device | str) -> bool:
    """True where the course trains in bfloat16 mixed precision: CUDA GPUs that compute it natively.

    That means compute capability 8.0 and newer (Ampere: A100, RTX 30xx, L4, H100 ...). Plain
    ``torch.cuda.is_bf16_supported()`` also says True on older GPUs such as Colab's free T4, which only
    emulate bfloat16 (the math runs in float32, plus conversions: no faster, often slower); ``Trainer`` trusts
    that answer, so the notebooks ask this function instead. CPUs keep float32: most learners' CPUs have no
    bfloat16 units and emulate it, and float32 gave the same metrics on every machine the course was
    benchmarked on. (On a Xeon with AMX, 07's fine-tuning step was 1.3x faster in bfloat16; with oneDNN
    limited to AVX-512-BF16 on the same CPU it was 1.75x slower.) Apple's MPS keeps float32 too. Notebook 13
    measures the precisions on your own machine.
    """
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    return bool(torch.cuda.is_bf16_supported(including_emulation=False))


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def is_offline(probe: bool = False, host: str = "huggingface.co", timeout: float = 1.0) -> bool:
    """True when the Hugging Face Hub should be treated as unreachable.

    Any of ``COURSE_OFFLINE``, ``HF_HUB_OFFLINE`` ... set to a true value means offline. With ``probe=True``
    and none of them set, one TCP connection to ``host`` decides.
    """
    for name in OFFLINE_ENVS:
        if os.environ.get(name, "").strip().lower() in _TRUE:
            return True
    if not probe:
        return False
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return False
    except OSError:
        return True


def online(value: bool | None = None) -> bool:
    """Whether to run the cells that need the Hugging Face Hub (``ONLINE`` parameter of a notebook).

    ``True``/``False`` decide; ``None`` detects: offline when ``COURSE_OFFLINE``/``HF_HUB_OFFLINE``... say so
    (``make`` and CI set it), else one quick connection to the Hub decides (Colab, a laptop on a network).
    A notebook prints one line saying why it skips a cell when this is False.
    """
    if value is not None:
        if not isinstance(value, bool):
            raise TypeError(f"ONLINE must be True, False or None (detect), got {value!r}")
        return value
    return not is_offline(probe=True)


@dataclass(frozen=True)
class PackageStatus:
    """One row of the version report."""

    name: str
    installed: str | None
    tested: str
    ok: bool


def version_report(warn: bool = True) -> list[PackageStatus]:
    """Report installed versions of the course's main libraries against the tested ranges.

    Warns (``warn=True``) about each library that is missing or outside its tested range, so that a new
    major release is noticed before it breaks a lesson in a confusing way.
    """
    rows = []
    for name, (low, high) in TESTED.items():
        try:
            installed: str | None = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        ok = installed is not None and Version(low) <= Version(Version(installed).base_version) < Version(high)
        rows.append(PackageStatus(name, installed, f">={low},<{high}", ok))
        if warn and not ok:
            where = "not installed" if installed is None else f"{installed} is outside the tested range"
            warnings.warn(f"{name}: {where} >={low},<{high}; lessons may break. See requirements.txt.", stacklevel=2)
    return rows


def describe_environment(smoke: bool | str | int | None = None) -> str:
    """A short text for the top of a notebook: Python, torch, device, smoke mode, Colab/offline.

    ``smoke`` is the notebook's ``SMOKE`` value (the set-up cell passes it), so the line says the mode the
    notebook really runs in, not only what ``COURSE_SMOKE`` says. It also runs :func:`version_report`, which
    warns about any main library outside its tested range.
    """
    version_report(warn=True)
    device = get_device()
    lines = [
        f"python {sys.version.split()[0]} | torch {torch.__version__} | device {device}",
        f"smoke mode: {smoke_mode(smoke)} | colab: {in_colab()} | offline: {is_offline()}",
    ]
    if device.type == "cuda":
        lines.append(f"GPU: {torch.cuda.get_device_name(device)}")
    return "\n".join(lines)
