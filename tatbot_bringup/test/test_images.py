"""Camera message decoding (pure core)."""

import cv2
import numpy as np
import pytest

from tatbot_bringup.images import ImageDecodeError, decode_compressed, decode_raw, resize

RGB = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)


@pytest.mark.parametrize(
    "encoding,data,step",
    [
        ("rgb8", RGB, 15),
        ("bgr8", RGB[..., ::-1], 15),
        ("rgba8", np.dstack([RGB, np.full((4, 5), 9, np.uint8)]), 20),
    ],
)
def test_raw_encodings_give_rgb(encoding, data, step):
    assert np.array_equal(decode_raw(encoding, 4, 5, step, np.ascontiguousarray(data).ravel()), RGB)


def test_mono8_and_row_padding():
    padded = np.zeros((4, 8), np.uint8)
    padded[:, :5] = RGB[..., 0]
    out = decode_raw("mono8", 4, 5, 8, padded.ravel())
    assert out.shape == (4, 5, 3) and np.array_equal(out[..., 2], RGB[..., 0])


def test_bad_raw_images_are_named():
    with pytest.raises(ImageDecodeError, match="16UC1"):
        decode_raw("16UC1", 4, 5, 10, np.zeros(40, np.uint8))
    with pytest.raises(ImageDecodeError, match="inconsistent"):
        decode_raw("rgb8", 4, 5, 15, np.zeros(10, np.uint8))


def test_compressed_png_is_lossless_and_garbage_is_refused():
    ok, png = cv2.imencode(".png", RGB[..., ::-1])
    assert ok and np.array_equal(decode_compressed("png", png.ravel()), RGB)
    with pytest.raises(ImageDecodeError, match="could not be decoded"):
        decode_compressed("jpeg", np.arange(50, dtype=np.uint8))


def test_resize():
    assert resize(RGB, None) is RGB
    assert resize(np.zeros((48, 64, 3), np.uint8), (24, 32)).shape == (24, 32, 3)
