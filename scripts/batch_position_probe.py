#!/usr/bin/env python3
"""Check whether a backbone's output for an image depends on the image's
position in its batch, on this machine's CPU and TensorFlow build.

  batch_position_probe.py SAVEDMODEL BATCH [BATCH ...]

For each batch size B: B random images, then image 0 moved to every
position p (the batch rotated by p), run through serving_default. Prints,
per B, the positions at which image 0 gets exactly the bits it gets at
position 0. Where that is not every position, features depend on how a
batch was filled (which images a cache already held, which shard computed
them, a single image at position 0 against a folder's batches), not only
on the batch size.

Measured (TensorFlow 2.18.1, MobileNet v1, AMD EPYC with AVX2 only, no
oneDNN custom ops; the same with intra/inter-op threads set to 1):
B=5: positions 0-3 of 5; B=8: 0-5 of 8; B=16: all 16.
"""
import sys

import numpy as np
import tensorflow as tf


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    f = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
    (name, spec), = f.structured_input_signature[1].items()
    out = list(f.structured_outputs)[0]
    rng = np.random.default_rng(0)
    for b in map(int, sys.argv[2:]):
        x = rng.uniform(0, 255, size=[b, *spec.shape[1:]]).astype(np.float32)
        run = lambda v: f(**{name: tf.constant(v)})[out].numpy()
        ref = run(x)[0]
        same = [p for p in range(b) if np.array_equal(ref, run(np.roll(x, p, axis=0))[p])]
        print(f"batch {b}: image 0 has position 0's bits at positions {same}", flush=True)


if __name__ == "__main__":
    main()
