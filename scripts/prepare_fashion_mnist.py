#!/usr/bin/env python3
"""Turn Debian's Fashion-MNIST into class folders of PNG images.

Source: Debian's `dataset-fashion-mnist` package (Zalando's Fashion-MNIST,
Expat/MIT licence), which installs the original IDX files under
/usr/share/datasets/fashion-mnist/:
  train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz   60,000 images
  t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz    10,000 images
Install it with scripts/install_system_packages.sh, or
  apt-get update && apt-get install -y dataset-fashion-mnist

Output: <out>/<class name>/<split>_<index>.png, 8-bit grayscale 28x28 PNGs,
where split is "train" or "test" and index the image's 0-based position in
that split's IDX file, zero-padded to 5 digits (train_00042.png): any file
can be traced back to the original data. Class folders, in label order 0..9:
  t-shirt_top trouser pullover dress coat sandal shirt sneaker bag ankle_boot

--per-class N images are drawn per class (default 600; 0 = all 7,000) from
train and test together, without replacement, with numpy's default_rng(seed):
the same arguments give the same files on any machine. The pipeline makes its
own train/validation split from these folders.

Atomic and idempotent: the images are written to a temporary folder beside
<out> and renamed into place at the end, with a stamp file
<out>/.prepare_fashion_mnist.json recording the arguments and the source
files' sha256. If <out> already has a stamp with the same arguments and
sources, nothing is done (--force rebuilds). An existing <out> without a
matching stamp is replaced only with --force.

Examples:
  scripts/prepare_fashion_mnist.py                       # data/fashion-mnist, 600 per class
  scripts/prepare_fashion_mnist.py --per-class 100 --seed 1 --out /tmp/fm
"""

import argparse
import gzip
import hashlib
import json
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = "/usr/share/datasets/fashion-mnist"
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60000),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10000),
}
CLASSES = ("t-shirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot")
PER_CLASS_ALL = 7000  # 6,000 train + 1,000 test per class
STAMP = ".prepare_fashion_mnist.json"
STAMP_FORMAT = "gotransfer.fashion-mnist/v1"
APT = "apt-get update && apt-get install -y dataset-fashion-mnist"


def fail(msg):
    print(f"prepare_fashion_mnist: {msg}", file=sys.stderr)
    sys.exit(2)


def say(msg):
    print(f"prepare_fashion_mnist: {msg}", flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.path.join(ROOT, "data", "fashion-mnist"), help="output folder")
    p.add_argument("--per-class", type=int, default=600, help=f"images per class, 1..{PER_CLASS_ALL}; 0 = all")
    p.add_argument("--seed", type=int, default=0, help="seed for choosing the images")
    p.add_argument("--src", default=SRC, help="folder with the IDX .gz files (Debian's location by default)")
    p.add_argument("--force", action="store_true", help="rebuild even if the output is up to date")
    args = p.parse_args()
    if not 0 <= args.per_class <= PER_CLASS_ALL:
        p.error(f"--per-class must be between 0 (all) and {PER_CLASS_ALL}")
    return args


def check_sources(src):
    """Returns {file name: sha256}; fails clearly if the package is missing."""
    names = [n for images, labels, _ in FILES.values() for n in (images, labels)]
    missing = [n for n in names if not os.path.isfile(os.path.join(src, n))]
    if missing:
        hint = (
            "  Install Debian's package (as root):\n"
            f"    {APT}\n"
            "  or run scripts/install_system_packages.sh"
        )
        if src != SRC:
            hint = f"  (--src {src}; the Debian package puts them in {SRC})\n" + hint
        fail(f"Fashion-MNIST files not found in {src}: {', '.join(missing)}\n{hint}")
    digests = {}
    for n in names:
        h = hashlib.sha256()
        with open(os.path.join(src, n), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digests[n] = h.hexdigest()
    return digests


def read_idx(path, ndim, count, np):
    """Reads a gzipped IDX file of unsigned bytes: magic 0x0000080<ndim>."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic != 0x0800 + ndim:
        fail(f"{path}: not an IDX file of {ndim}-d unsigned bytes (magic {magic:#x})")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    want = [count] + ([28, 28] if ndim == 3 else [])
    if dims != want:
        fail(f"{path}: dimensions {dims}, want {want}")
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        fail(f"{path}: {body.size} bytes of data, want {int(np.prod(dims))}")
    return body.reshape(dims)


def load(src, np):
    """Returns images [70000,28,28] uint8, labels [70000], split names, in-split indices."""
    images, labels, splits, index = [], [], [], []
    for split, (img_name, lbl_name, count) in FILES.items():
        x = read_idx(os.path.join(src, img_name), 3, count, np)
        y = read_idx(os.path.join(src, lbl_name), 1, count, np)
        if y.max() >= len(CLASSES):
            fail(f"{lbl_name}: label {int(y.max())} out of range 0..{len(CLASSES) - 1}")
        images.append(x)
        labels.append(y)
        splits += [split] * count
        index.append(np.arange(count))
    return np.concatenate(images), np.concatenate(labels), np.array(splits), np.concatenate(index)


def choose(labels, per_class, seed, np):
    """{class id: sorted positions in the combined train+test arrays}."""
    rng = np.random.default_rng(seed)
    chosen = {}
    for c in range(len(CLASSES)):
        pos = np.flatnonzero(labels == c)
        if len(pos) != PER_CLASS_ALL:
            fail(f"class {CLASSES[c]} has {len(pos)} images, want {PER_CLASS_ALL}")
        if per_class == 0:
            chosen[c] = pos
        else:
            chosen[c] = np.sort(rng.choice(pos, size=per_class, replace=False))
    return chosen


def read_stamp(out):
    try:
        with open(os.path.join(out, STAMP)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main():
    args = parse_args()
    out = os.path.abspath(args.out)
    digests = check_sources(args.src)
    stamp = {
        "format": STAMP_FORMAT,
        "per_class": args.per_class,
        "seed": args.seed,
        "sources": {"package": "dataset-fashion-mnist (Debian)", "dir": args.src, "sha256": digests},
        "classes": list(CLASSES),
        "layout": "<class>/<split>_<index>.png: 8-bit grayscale 28x28; index = 0-based position in the split's IDX file",
    }
    if os.path.exists(out) and not args.force:
        old = read_stamp(out)
        if old is not None and all(old.get(k) == v for k, v in stamp.items()):
            say(f"{args.out} is up to date ({args.per_class or PER_CLASS_ALL} per class, seed {args.seed}); nothing to do")
            return
        if old is None:
            fail(f"{args.out} exists and was not made by this script (no {STAMP}); pass --force to replace it")
        say(f"{args.out} was made with other arguments or sources; rebuilding")

    import numpy as np
    from PIL import Image

    images, labels, splits, index = load(args.src, np)
    chosen = choose(labels, args.per_class, args.seed, np)

    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(out) + ".", dir=parent)
    os.chmod(tmp, 0o755)
    try:
        counts = {}
        for c, name in enumerate(CLASSES):
            folder = os.path.join(tmp, name)
            os.mkdir(folder)
            for p in chosen[c]:
                Image.fromarray(images[p], mode="L").save(os.path.join(folder, f"{splits[p]}_{index[p]:05d}.png"))
            counts[name] = {
                "train": int(np.sum(splits[chosen[c]] == "train")),
                "test": int(np.sum(splits[chosen[c]] == "test")),
            }
        stamp["counts"] = counts
        with open(os.path.join(tmp, STAMP), "w") as f:
            json.dump(stamp, f, indent=2, sort_keys=True)
            f.write("\n")
        # Swap in: move any old output aside first (a folder cannot be renamed
        # onto a non-empty one), then remove it.
        trash = None
        if os.path.exists(out):
            trash = tempfile.mkdtemp(prefix="." + os.path.basename(out) + ".old.", dir=parent)
            os.replace(out, os.path.join(trash, "old"))
        os.replace(tmp, out)
        if trash:
            shutil.rmtree(trash, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    total = sum(len(v) for v in chosen.values())
    say(f"wrote {total} images ({len(CLASSES)} classes x {total // len(CLASSES)}, seed {args.seed}) to {args.out}")


if __name__ == "__main__":
    main()
