"""course_utils.preference: TRL preference rows, win rates and sentence features (no pretrained model)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils import preference


def test_preference_rows_are_trl_conversational():
    rows = preference.preference_rows(["p0", "p1"], ["a", "b", "c", "d"], [(1, 0), (2, 3)], group_size=2, system="")
    assert rows[0] == {"prompt": [{"role": "system", "content": ""}, {"role": "user", "content": "p0"}],
                       "chosen": [{"role": "assistant", "content": "b"}],
                       "rejected": [{"role": "assistant", "content": "a"}]}
    assert rows[1]["prompt"][-1]["content"] == "p1"
    assert rows[1]["chosen"][0]["content"] == "c"


@pytest.mark.parametrize(("pairs", "message"), [([(0, 2)], "SAME prompt"), ([(0, 0)], "itself"),
                                                 ([(0, 9)], "outside")])
def test_preference_rows_refuse_bad_pairs(pairs, message):
    with pytest.raises(ValueError, match=message):
        preference.preference_rows(["p0", "p1"], ["a", "b", "c", "d"], pairs, group_size=2)


def test_preference_rows_refuse_wrong_number_of_texts():
    with pytest.raises(ValueError, match="expected 4"):
        preference.preference_rows(["p0", "p1"], ["a", "b", "c"], [], group_size=2)


def test_win_rate_counts_ties_as_half():
    assert preference.win_rate([0.9, 0.1, 0.5, 0.7], [0.2, 0.3, 0.5, 0.1]) == pytest.approx((1 + 0 + 0.5 + 1) / 4)
    assert preference.win_rate([0.3], [0.3]) == 0.5


@pytest.mark.parametrize(("a", "b"), [([], []), ([0.1], [0.1, 0.2]), ([float("nan")], [0.1])])
def test_win_rate_refuses_bad_input(a, b):
    with pytest.raises(ValueError):
        preference.win_rate(a, b)


class TinyEncoder(nn.Module):
    """An encoder stand-in: embeddings as the last hidden state."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 3)
        self.config = type("Config", (), {"hidden_size": 3})()

    def forward(self, input_ids, attention_mask):
        return type("Out", (), {"last_hidden_state": self.embed(input_ids)})()


def tiny_tokenizer(texts, truncation, max_length, padding, return_tensors):
    ids = [[len(w) % 10 for w in t.split()][:max_length] for t in texts]
    width = max(map(len, ids))
    batch = {"input_ids": torch.tensor([i + [0] * (width - len(i)) for i in ids]),
             "attention_mask": torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])}

    class Batch(dict):
        def to(self, device):
            return self

    return Batch(batch)


def test_sentence_features_mean_pool_without_padding():
    torch.manual_seed(0)
    model = TinyEncoder().train()
    feats = preference.sentence_features(["aa bbb", "c"], model, tiny_tokenizer, batch_size=1)
    want0 = model.embed(torch.tensor([2, 3])).mean(0)
    assert feats.shape == (2, 3)
    assert torch.allclose(feats[0], want0.detach())
    together = preference.sentence_features(["aa bbb", "c"], model, tiny_tokenizer, batch_size=2)
    assert torch.allclose(feats, together, atol=1e-6)  # padding does not change a text's features
    assert model.training  # left as it came
