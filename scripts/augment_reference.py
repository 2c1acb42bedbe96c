"""Independent reference for pipeline/augment's views (its tests run it).

Reads a JSON list of views on stdin: {"image": path, "crop": [x0, y0, x1,
y1], "size": [h, w], "flip": bool, "angle": degrees, "brightness": f,
"contrast": f, "saturation": f}, and writes each view's h*w*3 RGB bytes
to stdout, one after the other. Crop, resize, flip and rotation are
Pillow's (Image.crop, Image.resize(NEAREST), FLIP_LEFT_RIGHT,
Image.rotate(BILINEAR)); the colour factors follow torchvision's
ColorJitter blends, written here in NumPy on float values, rounded once.
"""
import json
import sys

import numpy as np
from PIL import Image


def gray(v):
    return 0.2989 * v[..., 0] + 0.587 * v[..., 1] + 0.114 * v[..., 2]


def view(spec):
    img = Image.open(spec["image"]).convert("RGB")
    h, w = spec["size"]
    img = img.crop(tuple(spec["crop"])).resize((w, h), Image.NEAREST)
    if spec["flip"]:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    if spec["angle"]:
        img = img.rotate(spec["angle"], resample=Image.BILINEAR)
    v = np.asarray(img, dtype=np.float64)
    b, c, s = spec["brightness"], spec["contrast"], spec["saturation"]
    if (b, c, s) != (1, 1, 1):
        v = np.minimum(255, v * b)
        if c != 1:
            v = np.clip(c * v + (1 - c) * gray(v).mean(), 0, 255)
        if s != 1:
            v = np.clip(s * v + (1 - s) * gray(v)[..., None], 0, 255)
        v = np.floor(v + 0.5)
    return np.clip(v, 0, 255).astype(np.uint8).tobytes()


def main():
    out = sys.stdout.buffer
    for spec in json.load(sys.stdin):
        out.write(view(spec))


if __name__ == "__main__":
    main()
