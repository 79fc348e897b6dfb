"""The figures the train stage writes for DVC (genforge.core.plots), measured on their pixels."""

import numpy as np
from PIL import Image

from genforge.core.plots import epoch_samples_plot


def test_epoch_grids_stand_side_by_side_at_their_own_resolution(tmp_path):
    black, white = np.zeros((100, 200), np.uint8), np.full((100, 200), 255, np.uint8)
    epoch_samples_plot([(1, black), (2, white)], tmp_path / "s.png", empty="none")
    image = Image.open(tmp_path / "s.png")
    assert image.size == (400, 140)  # two 200-px grids at 100 dpi under a 0.4-inch band of titles
    pixels = np.asarray(image.convert("L"))
    assert pixels[90, 100] < 10 and pixels[90, 300] > 245  # epoch 1's grid on the left, epoch 2's on the right
    assert pixels[5, 100] > 245  # the title band is white but for its text


def test_text_samples_stack_one_block_per_epoch_and_no_samples_still_write_the_file(tmp_path):
    epoch_samples_plot([(1, "to be or not"), (2, "x" * 250)], tmp_path / "t.png", empty="none")
    epoch_samples_plot([], tmp_path / "e.png", empty="no samples: train.sample_tokens is 0")
    two, empty = Image.open(tmp_path / "t.png"), Image.open(tmp_path / "e.png")
    assert two.size[0] == empty.size[0] == 850 and two.size[1] > empty.size[1]  # 250 characters wrap to 3 lines
