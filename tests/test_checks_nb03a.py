"""Notebook 03a's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import math

import pytest
import torch
from checker_helpers import assert_accepted, assert_rejected
from torch import nn

from course_utils.practice.checks.nb03a import check_affine, check_mlp, check_param_groups, check_running_norm


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


# --- RunningNorm ----------------------------------------------------------------------------------------------
class RunningNorm(nn.Module):
    def __init__(self, n_features: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.register_buffer("running_mean", torch.zeros(n_features))
        self.register_buffer("running_var", torch.ones(n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return (x - self.running_mean) / torch.sqrt(self.running_var + self.eps)
        mean, var = x.mean(dim=0), x.var(dim=0, unbiased=False)
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * x.var(dim=0))
        return (x - mean) / torch.sqrt(var + self.eps)


class RunningNormPlainAttributes(RunningNorm):
    def __init__(self, n_features: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        nn.Module.__init__(self)
        self.momentum, self.eps = momentum, eps
        self.running_mean, self.running_var = torch.zeros(n_features), torch.ones(n_features)


class RunningNormParameters(RunningNorm):
    def __init__(self, n_features: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        nn.Module.__init__(self)
        self.momentum, self.eps = momentum, eps
        self.running_mean = nn.Parameter(torch.zeros(n_features), requires_grad=False)
        self.running_var = nn.Parameter(torch.ones(n_features), requires_grad=False)


class RunningNormGraph(RunningNorm):  # the update is recorded: the buffers join the graph
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return (x - self.running_mean) / torch.sqrt(self.running_var + self.eps)
        mean, var = x.mean(dim=0), x.var(dim=0, unbiased=False)
        self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
        self.running_var = (1 - self.momentum) * self.running_var + self.momentum * x.var(dim=0)
        return (x - mean) / torch.sqrt(var + self.eps)


class RunningNormUnbiased(RunningNorm):  # normalises with the unbiased variance
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        super().forward(x)
        return (x - x.mean(dim=0)) / torch.sqrt(x.var(dim=0) + self.eps)


class RunningNormNoUpdate(RunningNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        return (x - x.mean(dim=0)) / torch.sqrt(x.var(dim=0, unbiased=False) + self.eps)


class RunningNormAlwaysBatch(RunningNorm):  # ignores eval mode
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        training = self.training
        self.training = True
        try:
            return super().forward(x)
        finally:
            self.training = training


def test_running_norm_accepts_the_reference() -> None:
    assert_accepted(check_running_norm, RunningNorm)


@pytest.mark.parametrize(
    ("cls", "fragments"),
    [
        (RunningNormPlainAttributes, ["state_dict", "register_buffer"]),
        (RunningNormParameters, ["parameters", "not nn.Parameter"]),
        (RunningNormGraph, ["requires_grad", "torch.no_grad()"]),
        (RunningNormUnbiased, ["biased variance", "unbiased=False"]),
        (RunningNormNoUpdate, ["running_mean after the call", "(1 - momentum)"]),
        (RunningNormAlwaysBatch, ["eval mode", "running statistics"]),
    ],
)
def test_running_norm_rejects_wrong_answers(cls: type, fragments: list[str]) -> None:
    assert_rejected(check_running_norm(cls, seed=1), *fragments)


def test_affine_rejects_the_notebooks_bug_a_plain_tensor_that_requires_grad() -> None:
    class AffineBuggy(Affine):  # the find-the-bug exercise's code: plain tensors, requires_grad_()
        def __init__(self, n_in: int, n_out: int) -> None:
            nn.Module.__init__(self)
            self.weight = torch.empty(n_out, n_in).uniform_(-1, 1).requires_grad_()
            self.bias = torch.empty(n_out).uniform_(-1, 1).requires_grad_()

    assert_rejected(check_affine(AffineBuggy, seed=0), "input:", "not registered, even with requires_grad=True",
                    "nn.Parameter")


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
