"""Depth image decoding and resizing shared by the converter and the policy node (pure)."""

import numpy as np
import pytest

from tatbot_bringup.depth import DepthDecodeError, decode_depth, resize_depth

MM = np.array([[0, 70, 255], [256, 500, 65535]], dtype=np.uint16)


@pytest.mark.parametrize("big_endian", [0, 1])
def test_16uc1_both_byte_orders_and_row_padding(big_endian):
    rows = MM.astype(">u2" if big_endian else "<u2").view(np.uint8)
    padded = np.zeros((2, 8), np.uint8)  # 6 bytes of pixels + 2 of padding per row
    padded[:, :6] = rows
    out = decode_depth("16UC1", 2, 3, 8, big_endian, padded.ravel().tobytes())
    assert out.dtype == np.uint16 and np.array_equal(out, MM)


def test_bad_depth_messages_are_named():
    with pytest.raises(DepthDecodeError, match="'32FC1' is not supported: publish 16UC1 or mono16"):
        decode_depth("32FC1", 2, 3, 12, 0, bytes(24))
    with pytest.raises(DepthDecodeError, match="step 4 and 12 data bytes are inconsistent"):
        decode_depth("16UC1", 2, 3, 4, 0, bytes(12))


def test_nearest_resize_never_blends_depths():
    depth = np.repeat(np.repeat(MM, 2, axis=0), 2, axis=1)  # every value a 2x2 block
    assert np.array_equal(resize_depth(depth, (2, 3)), MM)
    up = resize_depth(MM, (4, 6))
    assert set(np.unique(up)) == set(np.unique(MM)) and np.array_equal(up[::2, ::2], MM)
    assert resize_depth(MM, None) is MM and resize_depth(MM, (2, 3)) is MM
