"""course_utils.environment: run mode, seeding, device choice, offline detection, version report."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from course_utils import environment as env
from course_utils.errors import UnknownNameError

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("true", True), ("0", False), ("", False), ("no", False)])
def test_smoke_mode_reads_the_environment(monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool) -> None:
    monkeypatch.setenv("COURSE_SMOKE", raw)
    assert env.smoke_mode() is expected
    assert env.smoke_mode(None) is expected


def test_smoke_mode_parameter_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_SMOKE", "1")
    assert env.smoke_mode(False) is False
    assert env.smoke_mode("yes") is True


def test_smoke_mode_rejects_garbage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_SMOKE", "maybe")
    with pytest.raises(ValueError, match="COURSE_SMOKE=1"):
        env.smoke_mode()


def test_native_bf16_only_on_gpus_that_compute_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env.native_bf16("cpu") is False and env.native_bf16(torch.device("meta")) is False
    asked: list[bool] = []

    def is_bf16_supported(including_emulation: bool = True) -> bool:
        asked.append(including_emulation)
        return including_emulation  # a T4: bfloat16 only by emulation

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    assert env.native_bf16("cuda") is False  # emulated bfloat16 does not count
    assert asked == [False]
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)  # an A100
    assert env.native_bf16("cuda:0") is True
    assert env.native_bf16("cpu") is False  # CPUs keep float32 whatever the GPU can do
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert env.native_bf16("cuda") is False


@pytest.mark.parametrize("bad", ["42", 1.5, None, True, [1]])
def test_seed_must_be_an_int(bad: object) -> None:
    with pytest.raises(TypeError, match="seed must be an int"):
        env.seed_everything(bad)  # type: ignore[arg-type]


def test_seed_out_of_range() -> None:
    for bad in (-1, 2**32):
        with pytest.raises(ValueError, match=f"seed must be an int between 0 and 4294967295.*got {bad}"):
            env.seed_everything(bad)


def test_seed_everything_repeats_numbers_and_returns_a_seeded_generator() -> None:
    gen_a = env.seed_everything(123)
    a = (torch.rand(3), torch.randperm(10, generator=gen_a))
    gen_b = env.seed_everything(123)
    b = (torch.rand(3), torch.randperm(10, generator=gen_b))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    env.seed_everything(124)
    assert not torch.equal(torch.rand(3), a[0])


def test_seeded_dataloader_shuffles_the_same_way() -> None:
    data = torch.utils.data.TensorDataset(torch.arange(50))

    def first_batch(seed: int) -> torch.Tensor:
        loader = torch.utils.data.DataLoader(data, batch_size=8, shuffle=True, generator=env.seed_everything(seed))
        return next(iter(loader))[0]

    assert torch.equal(first_batch(5), first_batch(5))
    assert not torch.equal(first_batch(5), first_batch(6))


def test_get_device_defaults_to_an_available_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    device = env.get_device()
    assert device.type in {"cpu", "cuda", "mps"}
    assert torch.zeros(1, device=device).device.type == device.type
    assert env.get_device("cpu") == torch.device("cpu")


def test_get_device_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownNameError, match="choose one of: cpu, cuda, mps"):
        env.get_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="not available"):
        env.get_device("cuda")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert env.get_device().type == "cpu"


def test_is_offline_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in env.OFFLINE_ENVS:
        monkeypatch.delenv(name, raising=False)
    assert env.is_offline() is False  # without probing, nothing says offline
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert env.is_offline() is True


def test_is_offline_probe_fails_fast_on_an_unreachable_host(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in env.OFFLINE_ENVS:
        monkeypatch.delenv(name, raising=False)
    assert env.is_offline(probe=True, host="127.0.0.1", timeout=0.5) is True  # nothing listens on 443 here


def test_in_colab(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert env.in_colab() is False
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20260101")
    assert env.in_colab() is True


def test_version_report_accepts_this_environment() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = env.version_report()
    assert {r.name for r in rows} == set(env.TESTED)
    assert all(r.ok for r in rows), [r for r in rows if not r.ok]


def test_version_report_warns_outside_the_tested_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(env, "TESTED", {"torch": ("99.0", "100"), "surely-not-a-package": ("1", "2")})
    with pytest.warns(UserWarning) as caught:
        rows = env.version_report()
    messages = " ".join(str(w.message) for w in caught)
    assert "torch" in messages and "outside the tested range" in messages
    assert "surely-not-a-package: not installed" in messages
    assert not any(r.ok for r in rows)


def test_describe_environment_says_the_notebooks_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_SMOKE", "0")
    text = env.describe_environment(True)  # a notebook with SMOKE = True under COURSE_SMOKE=0
    assert f"device {env.get_device()}" in text
    assert "smoke mode: True |" in text
    assert "smoke mode: False |" in env.describe_environment(None)
    monkeypatch.setenv("COURSE_SMOKE", "1")
    assert "smoke mode: True |" in env.describe_environment()


def test_deterministic_settings_lists_what_seed_everything_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    try:
        env.seed_everything(0)
        settings = env.deterministic_settings()
        assert settings["torch.are_deterministic_algorithms_enabled()"] is True
        assert settings["torch.is_deterministic_algorithms_warn_only_enabled()"] is True
        assert settings["torch.backends.cudnn.benchmark"] is False
        assert settings["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert torch.isnan(torch.empty(4)).all()  # fill_uninitialized_memory: new memory holds NaN
        monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
        env.seed_everything(0)
        assert env.deterministic_settings()["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"  # a user's value is kept
        torch.use_deterministic_algorithms(False)
        assert env.deterministic_settings()["torch.are_deterministic_algorithms_enabled()"] is False
    finally:
        env.seed_everything(0)


def test_seeded_workers_repeat_their_random_and_numpy_draws() -> None:
    """PyTorch seeds random, NumPy and torch in each worker from the loader's generator: no worker_init_fn needed."""

    def draws(seed: int) -> torch.Tensor:
        loader = torch.utils.data.DataLoader(env.RandomDraws(8), batch_size=2, num_workers=2,
                                             generator=torch.Generator().manual_seed(seed))
        return torch.cat(list(loader))

    first, again, other = draws(3), draws(3), draws(4)
    assert set(first[:, 0].tolist()) == {0.0, 1.0}  # both workers loaded batches
    assert torch.equal(first, again)
    assert not torch.equal(first[:, 1:], other[:, 1:])
    one_worker = first[first[:, 0] == 0, 1:]
    assert len(torch.unique(one_worker[:, 0])) == len(one_worker)  # each draw moves the worker's generator on
    in_main = env.RandomDraws(2)[0]
    assert in_main[0] == -1


def test_online_decides_or_detects(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env.online(True) is True and env.online(False) is False
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert env.online(None) is False  # make and CI: offline without probing
    with pytest.raises(TypeError, match="ONLINE must be"):
        env.online("yes")  # type: ignore[arg-type]


def test_deterministic_algorithms_without_loading_the_compiler() -> None:
    """seed_everything turns on deterministic kernels (warn only) and, when the compiler loads later, its option."""
    import subprocess
    import sys

    code = (
        "import os, sys, torch; os.environ.pop('TORCHINDUCTOR_DETERMINISTIC', None)\n"
        "from course_utils.environment import seed_everything\n"
        "seed_everything(0)\n"
        "print(torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),"
        " 'torch._inductor.config' in sys.modules)\n"
        "import torch._inductor.config as c\n"
        "print(c.deterministic)\n"
        "seed_everything(1)  # the compiler is loaded now: the public call\n"
        "print(torch.are_deterministic_algorithms_enabled(), c.deterministic)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True", "False", "True", "True", "True"]


def test_course_seed_follows_the_parameter_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from course_utils.environment import course_seed

    monkeypatch.delenv("COURSE_SEED", raising=False)
    assert course_seed() == 0 and course_seed(7) == 7
    monkeypatch.setenv("COURSE_SEED", "3")
    assert course_seed() == 3 and course_seed(7) == 7  # the notebook's own value wins
    for bad in ("x", "-1", "1.5"):
        monkeypatch.setenv("COURSE_SEED", bad)
        with pytest.raises(ValueError, match="is not a seed: use a whole number"):
            course_seed()
