"""Notebook 03a's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import math

import pytest
import torch
from checker_helpers import assert_accepted, assert_rejected
from torch import nn

from course_utils.practice.checks.nb03a import check_affine, check_mlp, check_param_groups, check_standardize


class Stub(nn.Module):
    def __init__(self, *args) -> None:
        raise NotImplementedError("write your solution here")


# --- Affine ---------------------------------------------------------------------------------------------------
class Affine(nn.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        bound = 1 / math.sqrt(n_in)
        self.weight = nn.Parameter(torch.empty(n_out, n_in).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.T + self.bias


class AffineViaLinear(nn.Module):  # another correct answer: registered under the same names
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        linear = nn.Linear(n_in, n_out)
        self.weight, self.bias = linear.weight, linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight.T).reshape(*x.shape[:-1], -1)


class AffinePlainTensors(Affine):
    def __init__(self, n_in: int, n_out: int) -> None:
        nn.Module.__init__(self)
        self.__dict__["weight"] = torch.randn(n_out, n_in, requires_grad=True)
        self.__dict__["bias"] = torch.zeros(n_out, requires_grad=True)


class AffineTransposed(Affine):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__(n_in, n_out)
        self.weight = nn.Parameter(torch.randn(n_in, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight + self.bias


class AffineNoSuper(Affine):
    def __init__(self, n_in: int, n_out: int) -> None:
        self.weight = nn.Parameter(torch.randn(n_out, n_in))


class AffineNoBias(Affine):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.T


class AffineDetached(Affine):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.detach().T + self.bias.detach()


@pytest.mark.parametrize("cls", [Affine, AffineViaLinear])
def test_affine_accepts_correct_answers(cls: type) -> None:
    assert_accepted(check_affine, cls)


@pytest.mark.parametrize(
    ("cls", "fragments"),
    [
        (Stub, ["not written yet"]),
        (AffinePlainTensors, ["nn.Parameter", "named_parameters"]),
        (AffineTransposed, ["(n_out, n_in)"]),
        (AffineNoSuper, ["super().__init__()"]),
        (AffineNoBias, ["values differ", "+ self.bias"]),
        (AffineDetached, ["weight.grad", "no .detach()"]),
        (nn.Linear(2, 3), ["pass the class, not an instance of it"]),
        (42, ["pass the class, not an instance of it", "got:      int 42"]),
    ],
)
def test_affine_rejects_wrong_answers(cls, fragments: list[str]) -> None:
    assert_rejected(check_affine(cls, seed=0), *fragments)


# --- Standardize ----------------------------------------------------------------------------------------------
class Standardize(nn.Module):
    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class StandardizeAttributes(Standardize):
    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        nn.Module.__init__(self)
        self.mean, self.std = mean, std


class StandardizeParameters(Standardize):
    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        nn.Module.__init__(self)
        self.mean, self.std = nn.Parameter(mean), nn.Parameter(std)


class StandardizeMultiplies(Standardize):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) * self.std


def test_standardize_accepts_the_reference() -> None:
    assert_accepted(check_standardize, Standardize)


@pytest.mark.parametrize(
    ("cls", "fragments"),
    [
        (Stub, ["not written yet"]),
        (StandardizeAttributes, ["state_dict", "register_buffer"]),
        (StandardizeParameters, ["parameters", "not nn.Parameter"]),
        (StandardizeMultiplies, ["(x - mean) / std", "values differ"]),
    ],
)
def test_standardize_rejects_wrong_answers(cls: type, fragments: list[str]) -> None:
    assert_rejected(check_standardize(cls, seed=1), *fragments)


# --- MLP ------------------------------------------------------------------------------------------------------
class MLP(nn.Module):
    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


class MLPSequential(nn.Module):
    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        blocks = []
        for a, b in zip(sizes, sizes[1:]):
            blocks += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*blocks[:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLPPythonList(MLP):
    def __init__(self, sizes: list[int]) -> None:
        nn.Module.__init__(self)
        self.layers = [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]


class MLPReluAtTheEnd(MLP):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x


@pytest.mark.parametrize("cls", [MLP, MLPSequential])
def test_mlp_accepts_correct_answers(cls: type) -> None:
    assert_accepted(check_mlp, cls)


@pytest.mark.parametrize(
    ("cls", "fragments"),
    [
        (Stub, ["not written yet"]),
        (MLPPythonList, ["nn.ModuleList", "number of parameters"]),
        (MLPReluAtTheEnd, ["no ReLU after the last layer"]),
    ],
)
def test_mlp_rejects_wrong_answers(cls: type, fragments: list[str]) -> None:
    assert_rejected(check_mlp(cls, seed=2), *fragments)


# --- param_groups ---------------------------------------------------------------------------------------------
def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    params = list(model.parameters())
    return [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]


def one_group_per_parameter(model: nn.Module, weight_decay: float) -> list[dict]:
    return [{"params": [p], "weight_decay": weight_decay if p.ndim >= 2 else 0.0} for p in model.parameters()]


def by_name(model: nn.Module, weight_decay: float) -> list[dict]:
    named = list(model.named_parameters())
    return [
        {"params": [p for n, p in named if not n.endswith("bias")], "weight_decay": weight_decay},
        {"params": [p for n, p in named if n.endswith("bias")], "weight_decay": 0.0},
    ]


def twice(model: nn.Module, weight_decay: float) -> list[dict]:
    return [{"params": list(model.parameters()), "weight_decay": weight_decay},
            {"params": [p for p in model.parameters() if p.ndim < 2], "weight_decay": 0.0}]


@pytest.mark.parametrize("fn", [param_groups, one_group_per_parameter])
def test_param_groups_accepts_correct_answers(fn) -> None:
    assert_accepted(check_param_groups, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (lambda m, wd: (_ for _ in ()).throw(NotImplementedError("write your solution here")), ["not written yet"]),
        (by_name, ["decide by shape, not by name", "LayerNorm"]),
        (twice, ["in two groups"]),
        (lambda m, wd: m.parameters(), ["a list of dicts"]),
        (lambda m, wd: [{"params": list(m.parameters()), "weight_decay": wd}], ["weight_decay=0.0"]),
    ],
)
def test_param_groups_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_param_groups(fn, seed=3), *fragments)
