import pytest
import torch

from workbench.core import pooling

# Two texts, 4 positions, 2 features. Row 0 has 2 real tokens, row 1 has 3.
HIDDEN = torch.tensor([
    [[1.0, 2.0], [3.0, 4.0], [100.0, 100.0], [100.0, 100.0]],
    [[0.0, 1.0], [2.0, 5.0], [4.0, -3.0], [100.0, 100.0]],
])
RIGHT = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0]])


def test_masked_mean_ignores_padding():
    expected = torch.tensor([[2.0, 3.0], [2.0, 1.0]])
    assert torch.allclose(pooling.mean(HIDDEN, RIGHT), expected)


def test_unmasked_mean_includes_padding():
    assert torch.allclose(pooling.mean_unmasked(HIDDEN, RIGHT)[0], torch.tensor([51.0, 51.5]))


def test_cls_is_first_real_token_under_right_and_left_padding():
    assert torch.equal(pooling.cls(HIDDEN, RIGHT), torch.tensor([[1.0, 2.0], [0.0, 1.0]]))
    left_hidden = HIDDEN.flip(dims=[1])
    left_mask = RIGHT.flip(dims=[1])
    # row 0 reversed: pads at 0,1 then [3,4],[1,2]; first real token is [3,4]
    assert torch.equal(pooling.cls(left_hidden, left_mask)[0], torch.tensor([3.0, 4.0]))


def test_last_token_right_padding():
    assert torch.equal(pooling.last_token(HIDDEN, RIGHT), torch.tensor([[3.0, 4.0], [4.0, -3.0]]))


def test_last_token_left_padding():
    hidden = torch.tensor([[[9.0, 9.0], [9.0, 9.0], [1.0, 2.0], [3.0, 4.0]],
                           [[9.0, 9.0], [0.0, 1.0], [2.0, 5.0], [4.0, -3.0]]])
    mask = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 1]])
    assert torch.equal(pooling.last_token(hidden, mask), torch.tensor([[3.0, 4.0], [4.0, -3.0]]))


def test_max_ignores_padding():
    assert torch.equal(pooling.max(HIDDEN, RIGHT), torch.tensor([[3.0, 4.0], [4.0, 5.0]]))


@pytest.mark.parametrize("name", ["mean", "cls", "last_token", "max"])
def test_masked_strategies_do_not_change_with_extra_padding(name):
    extra_hidden = torch.cat([HIDDEN, torch.full((2, 3, 2), 55.0)], dim=1)
    extra_mask = torch.cat([RIGHT, torch.zeros(2, 3, dtype=RIGHT.dtype)], dim=1)
    assert torch.equal(pooling.pool(name, HIDDEN, RIGHT), pooling.pool(name, extra_hidden, extra_mask))


def test_average_last_layers():
    layers = [torch.full((1, 2, 2), float(v)) for v in (1, 2, 3, 4, 5)]
    assert pooling.average_last_layers(layers, 1) is layers[-1]
    assert torch.allclose(pooling.average_last_layers(layers, 4), torch.full((1, 2, 2), 3.5))
    with pytest.raises(ValueError, match="between 1 and 5"):
        pooling.average_last_layers(layers, 6)


def test_unknown_pooling_lists_valid_names():
    with pytest.raises(ValueError, match="valid strategies: mean, mean_unmasked, cls, last_token, max"):
        pooling.pool("avg", HIDDEN, RIGHT)
