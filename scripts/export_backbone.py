#!/usr/bin/env python3
"""Export a Keras image backbone as a SavedModel the Go pipeline can load.

Every architecture of keras.applications (--arch, by its Keras class name
or its snake_case: ResNet50V2, resnet50_v2, efficientnet_b0), a user's own
Keras 3 model (--keras FILE.keras), or the small test model "tiny".
--list prints every architecture with its input size and preprocessing.

The SavedModel has one signature per endpoint, each taking one float32 NHWC
batch named "images" and returning a single tensor keyed by the endpoint's
name. For a keras.applications architecture the endpoints are:
  predictions   the model's output (the 1000-way ImageNet classifier);
  the pooled feature vector: the global pooling layer (avg_pool, ...) or,
                for VGG, fc2 (metadata.json's "feature_endpoint");
  the outputs of the last two blocks (names from the model: conv5_block3_out,
                block_16_project_BN, mixed10, ...; metadata.json's "blocks");
  the input activation of each cut fine-tuning may start from.
For --keras, the model's output (named after its layer), each --endpoint
LAYER and the cuts' input activations. Next to the model, metadata.json
records the input contract, the endpoints, where the weights came from
(with a fingerprint), the TensorFlow and Keras versions, and the cuts
fine-tuning may start from, found in the graph: the starts of the last one
and the last two blocks (ResNet50: conv5_block3_1_conv, conv5_block2_1_conv;
VGG16: block5_conv1, block4_conv1), each with every layer above it, its
Keras config, inputs and weights (docs/data.md has the contract).

Input size and preprocessing come from Keras itself: the size is the
default_size the architecture asks imagenet_utils.obtain_input_shape for
(or its built model's input), and the preprocessing mode is found by
running the architecture's own preprocess_input on a probe batch and
matching the result against the modes the Go side implements (caffe, tf,
torch, none). Layers that normalise inside the model (Rescaling,
Normalization) are listed in metadata.json, under input.preprocessing.
Preprocessing happens in Go, before the model, so the SavedModel is exactly
the Keras model and nothing is applied twice.

--describe (with --arch, or --keras) builds the model alone (random
weights for --arch) and prints, as one JSON object, metadata.json's parts
about fine-tuning, computed by the same code as an export: architecture,
params, input, feature_endpoint, cuts (and cuts_note: why fewer than two),
fine_tune (every weight's "key" empty: there is no SavedModel), and the
endpoints of the feature vector and of each cut's input. It writes
nothing and takes seconds (scripts/backbones.sh's cuts pass).

With --golden N, the script also runs the in-memory Keras model (not the
exported graph) on a seeded batch of N inputs and stores the inputs and each
endpoint's outputs as .npy files under golden/: the Go tests feed the same
batch through the SavedModel and compare.

Weights:
  imagenet   Keras' own download (online), or its cached file
             ~/.keras/models/<file> when present. Offline and without the
             cached file, fails within seconds and says how to supply it.
  random     seeded initialisation (--seed); labelled as random everywhere.
  PATH       a local Keras weights file (.h5 or .weights.h5).

Examples:
  scripts/export_backbone.py --list
  scripts/export_backbone.py --arch vgg16 --weights imagenet --out savedmodels/vgg16
  scripts/export_backbone.py --arch EfficientNetB0 --weights random --out savedmodels/effnet --golden 2
  scripts/export_backbone.py --keras my_model.keras --endpoint features --preprocess tf --out savedmodels/mine
  scripts/export_backbone.py --arch tiny --weights random --out savedmodels/tiny --golden 4
  scripts/export_backbone.py --describe --arch ResNet50
"""

import argparse
import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import zipfile

FORMAT = "gotransfer.backbone/v1"

# The preprocessing modes the Go side implements (pipeline/images), with the
# arithmetic of Keras' imagenet_utils.preprocess_input for each.
MODES = ("caffe", "tf", "torch", "none")
CAFFE_MEAN = [103.939, 116.779, 123.68]  # B, G, R
TORCH_MEAN = [0.485, 0.456, 0.406]
TORCH_STD = [0.229, 0.224, 0.225]

# Fine-tuning may start from the starts of the last one and the last two
# blocks below the feature endpoint ("cuts", found in the graph: see
# graph_cuts). Each adds an endpoint for the cut's input activation, where
# the pipeline caches features, and metadata.json describes the layers from
# the cut up (see fine_tune_layers).
CUT_BLOCKS = 2


def fail(msg):
    print(f"export_backbone: {msg}", file=sys.stderr)
    sys.exit(2)


def parse_args():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--arch", help="a keras.applications architecture (see --list), or tiny")
    src.add_argument("--keras", metavar="FILE.keras", help="a Keras 3 model file to export")
    src.add_argument("--list", action="store_true", help="print every architecture with its input size and preprocessing")
    p.add_argument("--describe", action="store_true",
                   help="with --arch or --keras: build the model (random weights for --arch), print its cuts and their "
                        "tails as JSON (metadata.json's parts) and write nothing")
    p.add_argument("--weights", help="imagenet, random, or a path to a Keras weights file (with --arch)")
    p.add_argument("--endpoint", action="append", default=[], metavar="LAYER",
                   help="with --keras: a layer whose output is an endpoint (repeatable)")
    p.add_argument("--preprocess", choices=MODES, help="with --keras: the preprocessing the model was trained with")
    p.add_argument("--seed", type=int, default=0, help="seed for --weights random and golden inputs")
    p.add_argument("--out", help="output SavedModel folder")
    p.add_argument("--golden", type=int, default=0, help="write N golden inputs/outputs (0 = none)")
    p.add_argument("--force", action="store_true", help="overwrite an existing export")
    args = p.parse_args()
    if args.list:
        return args
    if args.describe:
        if args.out or args.golden or args.force:
            p.error("--describe writes nothing: no --out, --golden or --force")
        if args.arch and not args.weights:
            args.weights = "random"
        if args.arch and (args.endpoint or args.preprocess):
            p.error("--endpoint and --preprocess go with --keras; an --arch's come from Keras")
        if args.keras and args.weights:
            p.error("--keras takes the weights in the file")
        return args
    if not args.out:
        p.error("--out is required")
    if args.arch and not args.weights:
        p.error("--arch needs --weights (imagenet, random or a file)")
    if args.keras and (args.weights or not args.preprocess):
        p.error("--keras takes the weights in the file, and needs --preprocess (" + ", ".join(MODES) + ")")
    if args.arch and (args.endpoint or args.preprocess):
        p.error("--endpoint and --preprocess go with --keras; an --arch's come from Keras")
    return args


def architectures(keras):
    """{Keras class name: family module} for every keras.applications model
    (the module where Keras defines it, which holds its preprocess_input)."""
    import importlib

    apps = keras.applications
    out = {}
    for name in sorted(dir(apps)):
        fn = getattr(apps, name)
        if name[0].isupper() and callable(fn):
            mod = importlib.import_module(fn.__module__)
            if hasattr(mod, "preprocess_input"):
                out[name] = mod
    return out


def canonical(name):
    return name.replace("_", "").replace("-", "").lower()


def find_arch(keras, arch):
    """The Keras class name of arch (class name or snake_case), or fails listing them."""
    apps = architectures(keras)
    for name in apps:
        if canonical(name) == canonical(arch):
            return name, apps
    fail(f"--arch {arch}: keras.applications {keras.__version__} has no such architecture; it has:\n  "
         + "\n  ".join(apps) + "\n(and tiny, the test model; see --list)")


def preprocessing_mode(mod, np):
    """The mode of the family's preprocess_input, found by running it.

    A probe batch of every pixel value goes through Keras' preprocess_input
    and through each mode of preprocess_pixels; the mode that gives the
    same float32 values is the family's. None matching fails: the Go side
    would not reproduce it.
    """
    pixels = np.arange(256 * 3, dtype=np.float32).reshape(1, 16, 16, 3) % 256
    got = np.asarray(mod.preprocess_input(pixels.copy()), dtype=np.float32)
    for mode in MODES:
        want = preprocess_pixels(pixels, mode_contract(mode), np)
        if got.shape == want.shape and np.allclose(got, want, rtol=0, atol=1e-5):
            return mode
    fail(f"{mod.__name__}.preprocess_input matches none of {', '.join(MODES)}; the Go side cannot reproduce it")


def mode_contract(mode):
    """metadata.json's input.preprocessing for mode."""
    if mode == "caffe":
        return {"mode": "caffe", "channel_order": "BGR", "mean": CAFFE_MEAN, "scale": 1.0,
                "value_range": "0..255 pixel values, channels reordered to BGR, per-channel ImageNet mean subtracted"}
    if mode == "tf":
        return {"mode": "tf", "channel_order": "RGB", "value_range": "-1..1: x/127.5 - 1"}
    if mode == "torch":
        return {"mode": "torch", "channel_order": "RGB", "mean": TORCH_MEAN, "std": TORCH_STD,
                "value_range": "x/255, then per-channel ImageNet mean subtracted and divided by its std"}
    return {"mode": "none", "channel_order": "RGB", "value_range": "0..255 pixel values, as they are (the model normalises)"}


def default_size(keras, builder):
    """(size or None, model or None): the architecture's default input side.

    Most families ask imagenet_utils.obtain_input_shape for their
    default_size; that call is intercepted (and the build stopped) so that
    --list builds nothing. A family that does not ask (MobileNetV3) is built
    and its input read; its spatial size is dynamic, and Keras loads its
    224x224 weights for any size (its own warning says so), hence 224.
    """
    from keras.src.applications import imagenet_utils

    class Stop(Exception):
        pass

    seen = {}
    real = imagenet_utils.obtain_input_shape

    def probe(*args, **kwargs):
        seen["size"] = kwargs.get("default_size", args[1] if len(args) > 1 else None)
        raise Stop

    imagenet_utils.obtain_input_shape = probe
    try:
        model = builder(weights=None)
    except Stop:
        return seen["size"], None
    finally:
        imagenet_utils.obtain_input_shape = real
    h = model.input_shape[1]
    return (h if h is not None else 224), model


def list_architectures(keras, np):
    print(f"{'architecture':<20} {'input':>9}  preprocessing   (keras {keras.__version__})")
    for name, mod in architectures(keras).items():
        size, _ = default_size(keras, getattr(mod, name))
        print(f"{name:<20} {size:>4}x{size:<4}  {preprocessing_mode(mod, np)}")
    print(f"{'tiny':<20} {32:>4}x{32:<4}  caffe   (the test model: random weights only)")


def build_tiny(keras):
    """A VGG-shaped model with the same layer names as VGG16, 32x32 input.

    Small enough to export in seconds; used by tests.
    """
    from keras import layers

    x = inp = keras.Input((32, 32, 3), name="input_layer")
    for i, filters in enumerate((8, 8, 16, 16, 16), start=1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{i}_conv1")(x)
        x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(32, activation="relu", name="fc1")(x)
    x = layers.Dense(32, activation="relu", name="fc2")(x)
    x = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inp, x, name="tiny_vgg")


def build(keras, name, mod, weights, seed):
    """Returns (model, weights description dict) for architecture name."""
    builder = getattr(mod, name)
    size, _ = default_size(keras, builder)
    # Forget any model default_size built, so that Keras' automatic layer
    # names (global_average_pooling2d, activation_17) count from zero.
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    kwargs = {"include_top": True, "input_shape": (size, size, 3)}
    if weights == "imagenet":
        # Keras downloads with no timeout; offline that can hang. Its cached
        # file (~/.keras/models) is used without any network.
        socket.setdefaulttimeout(15)
        try:
            model = builder(weights="imagenet", **kwargs)
        except Exception as e:  # urllib, OSError, Keras' own: report them all alike
            fail(f"cannot get the ImageNet weights of {name} through Keras: {e}\n"
                 f"  Offline? Copy Keras' weights file into ~/.keras/models/ (the same name as its URL's),\n"
                 f"  or pass --weights /path/to/the/file.h5 (or --weights random, for tests).")
        return model, {"source": "imagenet", "origin": f"keras.applications.{name}(weights='imagenet')"}
    model = builder(weights=None, **kwargs)
    if weights == "random":
        return model, {"source": "random", "seed": seed}
    if not os.path.isfile(weights):
        fail(f"--weights {weights}: no such file (want imagenet, random, or a Keras weights file)")
    try:
        model.load_weights(weights)
    except Exception as e:  # Keras raises many types here; report the file.
        fail(f"--weights {weights}: cannot load into {name}: {e}")
    return model, {"source": "file", "path": os.path.abspath(weights)}


def load_keras_file(keras, path):
    """A user's .keras file, or fails saying why it is not one."""
    if not os.path.isfile(path):
        fail(f"--keras {path}: no such file")
    if not path.endswith(".keras") or not zipfile.is_zipfile(path):
        fail(f"--keras {path}: not a Keras 3 model file (want FILE.keras, written by model.save('FILE.keras'))")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # a broken or foreign archive: say so with Keras' reason
        fail(f"--keras {path}: Keras cannot load it: {e}")


def fingerprint(model):
    """sha256 over every weight's name, shape, dtype and little-endian bytes."""
    import numpy as np

    h = hashlib.sha256()
    for w in model.weights:
        a = np.ascontiguousarray(w.numpy())
        h.update(f"{w.path}|{a.shape}|{a.dtype.str}\n".encode())
        h.update(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
    return h.hexdigest()


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def in_model_preprocessing(model):
    """The Rescaling and Normalization layers inside the model, described."""
    found = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Rescaling":
            c = layer.get_config()
            found.append(f"{layer.name}: Rescaling(scale={c['scale']}, offset={c['offset']})")
        elif kind == "Normalization":
            found.append(f"{layer.name}: Normalization (per-channel mean and variance)")
    return found


class Graph:
    """A functional model's graph: every operation in model order
    (model.operations, a topological order: the layers and the Keras ops
    that are not layers, such as the x + 3.0 of MobileNetV3's
    hard_sigmoid), with the tensors each one takes.

    ops[i] is an operation; inputs[i] the (index of the producing
    operation, output index) of each tensor it takes, in call order ([]
    for the input layer); outputs[i] its output tensors. Raises ValueError
    when the model calls an operation more than once (a shared layer),
    whose calls would share one name.
    """

    def __init__(self, model):
        from keras.src.ops.function import make_node_key

        self.ops = list(model.operations)
        self.index = {op.name: i for i, op in enumerate(self.ops)}
        where = {id(op): i for i, op in enumerate(self.ops)}
        self.inputs, self.outputs, self.nodes = [], [], []
        for op in self.ops:
            nodes = [n for k, n in enumerate(op._inbound_nodes) if make_node_key(op, k) in model._nodes]
            if len(nodes) != 1:
                raise ValueError(f"{op.name} is called {len(nodes)} times in the model")
            node = nodes[0]
            self.nodes.append(node)
            self.inputs.append([(where[id(t._keras_history.operation)], t._keras_history.tensor_index)
                                for t in node.arguments.keras_tensors])
            self.outputs.append(list(node.outputs))

    def ref(self, i, k):
        """The name by which a consumer refers to output k of operation i:
        its name, with ":k" for an operation with several outputs."""
        return self.ops[i].name if len(self.outputs[i]) == 1 else f"{self.ops[i].name}:{k}"

    def articulations(self, upto):
        """The operations below index upto whose output is the model's whole
        state: a single tensor through which every path from the input to
        the output passes (no edge from below jumps over it)."""
        reach = list(range(len(self.ops)))  # the furthest operation each one feeds
        for i, ins in enumerate(self.inputs):
            for p, _ in ins:
                reach[p] = max(reach[p], i)
        out, furthest = [], 0
        for i in range(1, upto):
            furthest = max(furthest, reach[i - 1])
            if furthest <= i and len(self.outputs[i]) == 1:
                out.append(i)
        return out

    def first_consumer(self, i):
        """The first operation in model order that takes operation i's output."""
        return min(j for j, ins in enumerate(self.inputs) if any(p == i for p, _ in ins))

    def downstream(self, i):
        """The operations that depend on operation i's output, in model order."""
        seen, out = {i}, []
        for j in range(i + 1, len(self.ops)):
            if any(p in seen for p, _ in self.inputs[j]):
                seen.add(j)
                out.append(j)
        return out

    def upstream(self, i):
        """Operation i and every operation it depends on."""
        seen, todo = {i}, [i]
        while todo:
            for p, _ in self.inputs[todo.pop()]:
                if p not in seen:
                    seen.add(p)
                    todo.append(p)
        return seen


def feature_layer(model, required=True):
    """The pooled feature vector's layer: fc2 when the model has it (VGG),
    else the last global pooling layer; without either, fails (or, not
    required, returns None)."""
    names = [l.name for l in model.layers]
    if "fc2" in names:
        return "fc2"
    pools = [l.name for l in model.layers if type(l).__name__.startswith("Global")]
    if not pools:
        if not required:
            return None
        fail(f"{model.name}: no global pooling layer and no fc2: cannot tell its feature vector")
    return pools[-1]


def block_key(layer, prev):
    """The block a layer belongs to, from its name: up to its "block" part
    and the numbers right after it (conv5_block3_out -> conv5_block3,
    block_16_project_BN -> block_16, block8_10_conv -> block8_10,
    convnext_tiny_stage_3_block_2_identity -> convnext_tiny_stage_3_block_2);
    in a name without one, up to its last part holding a digit (mixed10,
    expanded_conv_10_add -> expanded_conv_10). Layers named by Keras'
    counter (activation_17) or without a digit (top_conv, post_relu) belong
    to the block before them."""
    import re

    name = layer.name
    auto = re.sub(r"(?<!^)(?=[A-Z])", "_", type(layer).__name__).lower()
    if name == auto or re.fullmatch(re.escape(auto) + r"_\d+", name):
        return prev
    parts = name.split("_")
    blocks = [i for i, p in enumerate(parts) if "block" in p.lower()]
    if blocks:
        last = blocks[-1]
        while last + 1 < len(parts) and parts[last + 1].isdigit():
            last += 1
    else:
        last = max((i for i, p in enumerate(parts) if any(ch.isdigit() for ch in p)), default=None)
        if last is None:
            return prev
    return "_".join(parts[: last + 1])


def block_ends(g, upto, n):
    """Indices of the outputs of the last n blocks below operation upto:
    articulations (see Graph.articulations), spatial (4-D), each the last
    such operation of its block; the latest first. An operation's block
    comes from its name, or, named by Keras' counter (ConvNeXt's residual
    add_17), is the block of the operations before it (see block_key)."""
    block, prev = [], None
    for op in g.ops:
        prev = block_key(op, prev)
        block.append(prev)
    cuts = [i for i in g.articulations(upto) if len(g.outputs[i][0].shape) == 4]
    keys = [block[i] for i in cuts]
    ends = []
    for j in range(len(cuts) - 1, -1, -1):
        if keys[j] is not None and (j == len(cuts) - 1 or keys[j + 1] != keys[j]):
            ends.append(cuts[j])
            if len(ends) == n:
                break
    return ends


def last_blocks(model, upto, n=2):
    """The names of the outputs of the last n blocks below layer upto (the
    feature endpoint), the latest first: the backbone's whole state there."""
    g = Graph(model)
    return [g.ops[i].name for i in block_ends(g, g.index[upto], n)]


def graph_cuts(model, upto, n=CUT_BLOCKS):
    """(cuts, note): the cuts fine-tuning may start from, found in the
    graph, and why there are fewer than n ("" when there are n).

    The cuts are the starts of the last one, ..., n blocks below operation
    upto (the feature endpoint), the last block's first. A block starts at
    the first operation in model order that takes the output of the block
    below, an articulation (ResNet50: conv5_block3_1_conv, which takes
    conv5_block2_out). Fewer where the model has fewer blocks, and none
    whose layers up to upto are more than three quarters of the model's
    operations: that is no last block (NASNet's only articulations are in
    its stem, below every cell); none for a model that calls a layer more
    than once."""
    try:
        g = Graph(model)
    except ValueError as e:
        return [], f"none offered: {e} (a cut's tail is rebuilt layer by layer, each called once)"
    below = g.upstream(g.index[upto])
    found = block_ends(g, g.index[upto], n + 1)
    cuts, note = [], ""
    for i in found[1:]:
        above = sum(j in below for j in g.downstream(i))
        if 4 * above > 3 * len(g.ops):
            note = (f"the next candidate, {g.ops[g.first_consumer(i)].name}, has {above} of the model's {len(g.ops)} "
                    "operations above it, more than three quarters: the model's single-tensor points that low are "
                    "in its stem, below every block")
            break
        cuts.append(g.ops[g.first_consumer(i)].name)
    else:
        if len(cuts) < n:
            note = (f"the graph has {len(found)} block(s) below {upto} (told apart by their layer names), "
                    "and a cut is the start of a block above another")
    if len(cuts) < n and note:
        note = ("none offered: " if not cuts else f"only {len(cuts)} offered: ") + note
    return cuts, note


def main():
    args = parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    if args.list:
        list_architectures(keras, np)
        return
    if args.describe:
        model, _, extra = source(args, keras, np)
        json.dump(describe(keras, model, extra), sys.stdout, sort_keys=True)
        print()
        return
    out = os.path.abspath(args.out)
    if os.path.exists(out) and not args.force:
        fail(f"{args.out} exists; pass --force to overwrite")
    model, endpoints, extra = source(args, keras, np)
    meta = export(model, out, endpoints, extra, golden_n=args.golden, seed=args.seed)
    weights, prep = meta["weights"], meta["input"]["preprocessing"]
    print(
        f"exported {meta['architecture']} ({weights['source']} weights, {meta['params']:,} params, "
        f"sha256 {weights['sha256'][:12]}, {prep['mode']} preprocessing, "
        f"{meta['input']['shape'][1]}x{meta['input']['shape'][2]}) to {args.out}: endpoints {', '.join(meta['endpoints'])}"
    )


def source(args, keras, np):
    """The model --arch or --keras names, and what export needs of it:
    (model, endpoints, meta_extra), as export takes them. The cuts are
    found here (graph_cuts), so that --describe and the export offer the
    same ones. With --keras, the preprocessing is None where --preprocess
    is not given (--describe does not need it)."""
    extra = {}
    if args.keras:
        model = load_keras_file(keras, args.keras)
        weights = {"source": "file", "path": os.path.abspath(args.keras), "file_sha256": file_sha256(args.keras)}
        names = [l.name for l in model.layers]
        for e in args.endpoint:
            if e not in names:
                fail(f"--endpoint {e}: {args.keras} has no such layer (it has {', '.join(names)})")
        if len(model.outputs) != 1:
            fail(f"--keras {args.keras}: the model has {len(model.outputs)} outputs; want one")
        shape = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
        if shape is None or len(shape) != 3 or None in shape or shape[2] != 3:
            fail(f"--keras {args.keras}: the model's input is {model.input_shape}; want one image input of a fixed size "
                 "(None, H, W, 3). For a model of any size, save it with model.export(DIR) and load DIR with "
                 "backbone.preprocess (the input size is then images.size)")
        out_layer = model.outputs[0]._keras_history.operation.name
        endpoints = {out_layer: out_layer}
        for e in args.endpoint:
            endpoints.setdefault(e, e)
        prep = mode_contract(args.preprocess) if args.preprocess else None
        arch = os.path.basename(args.keras)
        # Fine-tuning trains up to the pooled features where the model
        # has them, else up to its output.
        extra["tail_feature"] = feature_layer(model, required=False) or out_layer
        cuts, note = graph_cuts(model, extra["tail_feature"])
        exported_by = " ".join(["scripts/export_backbone.py --keras", args.keras]
                               + ([f"--preprocess {args.preprocess}"] if args.preprocess else [])
                               + [f"--endpoint {e}" for e in args.endpoint])
    else:
        if canonical(args.arch) == "tiny":
            if args.weights != "random":
                fail("--arch tiny only supports --weights random")
            keras.utils.set_random_seed(args.seed)
            model, weights, arch, prep = build_tiny(keras), {"source": "random", "seed": args.seed}, "tiny", mode_contract("caffe")
            prep["value_range"] = "as vgg16 (the tiny model mirrors its contract)"
        else:
            arch, apps = find_arch(keras, args.arch)
            model, weights = build(keras, arch, apps[arch], args.weights, args.seed)
            prep = mode_contract(preprocessing_mode(apps[arch], np))
            extra["keras_preprocess"] = apps[arch].preprocess_input
        feature = feature_layer(model)
        blocks = last_blocks(model, feature)
        endpoints = {"predictions": model.layers[-1].name, feature: feature}
        for b in blocks:
            endpoints.setdefault(b, b)
        cuts, note = graph_cuts(model, feature)
        extra.update({"feature_endpoint": feature, "blocks": blocks})
        exported_by = "scripts/export_backbone.py " + " ".join(
            f"--{k} {v}" for k, v in (("arch", args.arch), ("weights", args.weights), ("seed", args.seed)))
    if prep is not None:
        inside = in_model_preprocessing(model)
        if inside:
            prep["in_model"] = inside
    if note:
        extra["cuts_note"] = note
    return model, endpoints, dict(extra, cuts=cuts, architecture=arch, weights=weights, preprocessing=prep,
                                  exported_by=exported_by)


def describe(keras, model, meta_extra):
    """What --describe prints: metadata.json's parts about fine-tuning
    (architecture, params, input, feature_endpoint, cuts, cuts_note,
    fine_tune, and the endpoints of the feature vector and of each cut's
    input), computed from the model alone, exactly as export computes
    them, but with no SavedModel, so that every weight's "key" is empty."""
    cuts = list(meta_extra["cuts"])
    feature = meta_extra.get("tail_feature") or meta_extra.get("feature_endpoint")
    ops = {op.name: op for op in model.operations}
    endpoints = {}
    for name in [feature] + cut_endpoints(model, cuts):
        endpoints[name] = {"layer": name, "shape": endpoint_shape(endpoint_output(keras, ops[name]))}
    h, w, c = model.input_shape[1:]
    out = {
        "architecture": meta_extra["architecture"],
        "params": int(model.count_params()),
        "input": {"shape": [None, h, w, c]},
        "feature_endpoint": feature,
        "cuts": cuts,
        "fine_tune": fine_tune_layers(model, cuts, feature),
        "endpoints": endpoints,
        "versions": {"keras": keras.__version__},
    }
    if meta_extra.get("preprocessing") is not None:
        out["input"]["preprocessing"] = meta_extra["preprocessing"]
    if meta_extra.get("cuts_note"):
        out["cuts_note"] = meta_extra["cuts_note"]
    return out


def export(model, out, endpoints, meta_extra, golden_n=0, seed=0):
    """Writes model as a SavedModel with metadata.json (and golden files) to out.

    The reusable part of this script (scripts/export_mobilenet.py calls it too).

    endpoints: ordered {endpoint name: layer name (or the name of a Keras
      op that is not a layer)}; the first one is the default endpoint and
      the "serving_default" signature.
    meta_extra: must hold "architecture", "weights" (a dict; its "sha256" is
      filled in here), "preprocessing" (the dict that goes under
      input.preprocessing; its "mode" also decides how golden inputs are
      drawn), "exported_by" and "cuts" (layer names fine-tuning may start
      from, the last block's start first; see graph_cuts and
      fine_tune_layers); optionally "tail_feature" (the layer up to
      which a cut's trainable_params count, not written to metadata.json;
      default: "feature_endpoint", else feature_layer's) and
      "keras_preprocess" (the family's preprocess_input, which then makes
      the golden inputs, and golden/pixels.npy holds the pixels); any
      other keys go into metadata.json as they are.
    golden_n: when > 0, writes golden/input.npy and golden/<endpoint>.npy,
      computed by the in-memory Keras model on a batch seeded with seed.

    Writes into a temporary folder beside out and renames it at the end,
    replacing out if it exists (the caller decides whether that is allowed).
    Returns the metadata dict.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    meta_extra = dict(meta_extra)
    keras_preprocess = meta_extra.pop("keras_preprocess", None)
    weights = meta_extra.pop("weights")
    prep = meta_extra.pop("preprocessing")
    cuts = list(meta_extra.pop("cuts"))
    feature = meta_extra.pop("tail_feature", None) or meta_extra.get("feature_endpoint")
    weights["sha256"] = fingerprint(model)
    endpoints = dict(endpoints)
    if cuts:
        feature = feature or feature_layer(model)
    for below in cut_endpoints(model, cuts):  # the cut's input activation is an endpoint too
        endpoints.setdefault(below, below)

    h, w, c = model.input_shape[1:]
    spec = tf.TensorSpec([None, h, w, c], tf.float32, name="images")
    archive = keras.export.ExportArchive()
    # No archive.track(model): Keras 3.8 would then save every weight twice
    # (as the Keras variable and as the tf.Variable the endpoints capture),
    # doubling the files and the memory the Go side needs to load them. The
    # endpoints capture all the variables they use by themselves.
    subs = {}
    meta_endpoints = {}
    ops = {op.name: op for op in model.operations}
    for name, layer in endpoints.items():
        y = endpoint_output(keras, ops[layer])
        sub = keras.Model(model.input, y)
        subs[name] = sub
        archive.add_endpoint(name, endpoint_fn(name, sub), [spec])
        meta_endpoints[name] = {"layer": layer, "shape": endpoint_shape(y)}

    # Write into a temporary folder beside the target and rename at the end,
    # so an interrupted export never leaves a half-written model behind.
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(out) + ".", dir=parent)
    os.chmod(tmp, 0o755)
    try:
        archive.write_out(tmp, verbose=False)
        fine_tune = fine_tune_layers(model, cuts, feature, checkpoint_keys(archive, tmp))
        meta = {
            "format": FORMAT,
            "architecture": meta_extra.pop("architecture"),
            "weights": weights,
            "params": int(model.count_params()),
            "input": {
                "signature_key": "images",
                "dtype": "float32",
                "shape": [None, h, w, c],
                "layout": "NHWC",
                "preprocessing": prep,
            },
            "endpoints": meta_endpoints,
            "default_endpoint": next(iter(endpoints)),
            "cuts": cuts,
            "fine_tune": fine_tune,
            "tags": ["serve"],
            "versions": {
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "python": sys.version.split()[0],
            },
            "exported_by": meta_extra.pop("exported_by"),
        }
        meta.update(meta_extra)
        if golden_n > 0:
            write_golden(os.path.join(tmp, "golden"), model, subs, prep, golden_n, seed, np, keras_preprocess)
            meta["golden"] = {"n": golden_n, "seed": seed, "files": "golden/input.npy, golden/<endpoint>.npy"}
        with open(os.path.join(tmp, "metadata.json"), "w") as f:
            json.dump(meta, f, indent=2, sort_keys=True)
            f.write("\n")
        if os.path.exists(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def cut_input(g, cut):
    """The index of the operation whose output is the input of the cut
    named cut, or fails saying why cut is not one.

    A cut takes a single tensor, the output of an articulation (every path
    from the input to the output passes through it: see
    Graph.articulations), and is the first operation in model order that
    takes it; fine-tuning from it rebuilds every operation that depends on
    that tensor, fed by it alone.
    """
    if cut not in g.index:
        fail(f"cut {cut!r}: the model has no such layer")
    i = g.index[cut]
    ins = g.inputs[i]
    if len(ins) != 1:
        fail(f"cut {cut!r}: it takes {len(ins)} tensors; a cut takes one, the whole state of the model below it")
    p = ins[0][0]
    if p not in g.articulations(len(g.ops)):
        fail(f"cut {cut!r}: its input, {g.ops[p].name}'s output, is not the model's whole state "
             "(a path from the input to the output goes around it)")
    if g.first_consumer(p) != i:
        fail(f"cut {cut!r}: name it by the first layer that takes {g.ops[p].name}'s output, "
             f"{g.ops[g.first_consumer(p)].name}")
    return p


def tail_entry(g, j, weights):
    """metadata.json's record of operation j above a cut: a layer's class,
    name, get_config(), weights and inputs (the names of the operations
    whose outputs it takes, in call order); for a Keras op that is not a
    layer, see op_entry."""
    import keras

    op = g.ops[j]
    inputs = [g.ref(p, k) for p, k in g.inputs[j]]
    if not isinstance(op, keras.layers.Layer):
        return dict(op_entry(g, j), name=op.name, weights=[], inputs=inputs)
    return {
        "name": op.name,
        "class": type(op).__name__,
        "config": json.loads(json.dumps(op.get_config(), default=str)),
        "weights": weights,
        "inputs": inputs,
    }


def op_entry(g, j):
    """The class and config of a Keras op that is not a layer (a functional
    model records x + 3.0 as a keras.src.ops.numpy.Add): x + c, c + x,
    x - c, c - x and x * c, c * x with a Python number c as class
    Rescaling (x * scale + offset, which gives the same float32 values:
    scale 1.0 or -1.0, or offset 0.0); x + y, x - y and x * y of two
    tensors as the Keras layer that computes the same (Add, Subtract,
    Multiply, config {}); any other as class "ops.<ClassName>" with its
    arguments (tensors as null), which Go refuses naming it."""
    import numbers

    import keras

    op, node = g.ops[j], g.nodes[j]
    args, kwargs = node.arguments.args, node.arguments.kwargs
    kind = type(op).__name__
    tensor = [isinstance(a, keras.KerasTensor) for a in args]
    number = [isinstance(a, numbers.Real) and not isinstance(a, bool) for a in args]
    if kind in ("Add", "Multiply", "Subtract") and len(args) == 2 and not kwargs:
        if all(tensor):
            # x + y of two tensors (ConvNeXt's residual): Keras' merge layer
            # of the same name computes the same.
            return {"class": kind, "config": {}}
        if tensor[0] + tensor[1] == 1 and number[0] + number[1] == 1:
            c = float(args[number.index(True)])
            if kind == "Add":
                return {"class": "Rescaling", "config": {"scale": 1.0, "offset": c}}
            if kind == "Multiply":
                return {"class": "Rescaling", "config": {"scale": c, "offset": 0.0}}
            # x - c, or c - x
            return {"class": "Rescaling", "config": {"scale": 1.0, "offset": -c} if tensor[0] else {"scale": -1.0, "offset": c}}

    def plain(v):
        return v if isinstance(v, (numbers.Real, str, bool, type(None))) else None

    return {"class": "ops." + kind,
            "config": {"args": [plain(a) for a in args], "kwargs": {k: plain(v) for k, v in kwargs.items()}}}


def fine_tune_layers(model, cuts, feature, key=None):
    """metadata.json's "fine_tune": for each cut, the endpoint of its input
    activation, every operation that depends on it up to the model's
    output, in model order (see tail_entry: Keras class, name, config,
    inputs and, for each weight, its key (below) and whether Keras trains
    it), and trainable_params: the weights Keras trains from the cut up to
    and including the layer feature.

    key(op, w) is the key under which the SavedModel's checkpoint holds
    weight w of op (see checkpoint_keys); None (--describe, no SavedModel)
    leaves every key empty.
    """
    import numpy as np

    g = Graph(model)
    below = g.upstream(g.index[feature])
    out = {}
    for cut in cuts:
        p = cut_input(g, cut)
        layers, trainable = [], 0
        for j in g.downstream(p):
            op, ws = g.ops[j], []
            for w in getattr(op, "weights", []):
                ws.append({"name": w.name, "key": key(op, w) if key else "", "shape": list(w.shape),
                           "trainable": bool(w.trainable)})
                if w.trainable and j in below:
                    trainable += int(np.prod(w.shape))
            layers.append(tail_entry(g, j, ws))
        if g.index[feature] not in g.downstream(p):
            fail(f"cut {cut!r}: the feature endpoint {feature} does not depend on it")
        out[cut] = {"input_endpoint": g.ops[p].name, "layers": layers, "trainable_params": trainable}
    return out


def checkpoint_keys(archive, folder):
    """fine_tune_layers' key for an export written to folder by archive:
    Keras' export names the variables "_all_variables/<i>/.ATTRIBUTES/
    VARIABLE_VALUE". Every key is read back from the written checkpoint and
    compared with the layer's weight, so that a wrong mapping fails the
    export, not a run."""
    import numpy as np
    import tensorflow as tf

    index = {id(v): i for i, v in enumerate(archive._tf_trackable._all_variables)}
    reader = tf.train.load_checkpoint(os.path.join(folder, "variables", "variables"))

    def key(op, w):
        i = index.get(id(w.value))
        if i is None:
            fail(f"{op.name}/{w.name}: not among the exported variables")
        k = f"_all_variables/{i}/.ATTRIBUTES/VARIABLE_VALUE"
        if not np.array_equal(reader.get_tensor(k), w.numpy()):
            fail(f"{op.name}/{w.name}: checkpoint key {k} holds another value")
        return k

    return key


def cut_endpoints(model, cuts):
    """The names of the operations whose outputs are the cuts' inputs:
    each an endpoint, where fine-tuning from that cut caches features."""
    if not cuts:
        return []
    g = Graph(model)
    return [g.ops[cut_input(g, cut)].name for cut in cuts]


def endpoint_output(keras, op):
    """The Keras tensor an endpoint on op returns: op's output, or a
    keepdims global pooling's (MobileNet, MobileNetV3: [N, 1, 1, C])
    flattened to the feature vector [N, C] every other family's pooling
    gives."""
    y = op.output
    if type(op).__name__.startswith("Global") and len(y.shape) == 4:
        y = keras.layers.Flatten(name=op.name + "_flat")(y)
    return y


def endpoint_shape(y):
    """metadata.json's shape of an endpoint returning y: [null, ...]."""
    return [None] + list(y.shape[1:])


def endpoint_fn(name, sub):
    """The function behind one signature: images -> {name: features}.

    A closure rather than a lambda with default arguments: TensorFlow would
    record those defaults as extra, unencodable signature arguments.
    """

    def fn(images):
        return {name: sub(images, training=False)}

    return fn


def preprocess_pixels(pixels, prep, np):
    """Applies an input.preprocessing contract to RGB pixels in 0..255 (NHWC).

    The same arithmetic the Go side does before the model; used here to draw
    golden inputs that look like real, preprocessed images.
    """
    mode = prep["mode"]
    if mode == "caffe":
        # RGB->BGR, per-channel mean subtracted, no scaling: about [-124, 152].
        x = pixels[..., ::-1] - np.array(prep["mean"], dtype=np.float32)
    elif mode == "tf":
        x = pixels / np.float32(127.5) - np.float32(1.0)  # [-1, 1]
    elif mode == "torch":
        x = (pixels / np.float32(255.0) - np.array(prep["mean"], dtype=np.float32)) / np.array(
            prep["std"], dtype=np.float32
        )
    elif mode == "none":
        x = pixels
    else:
        raise ValueError(f"unknown preprocessing mode {mode!r}")
    return np.ascontiguousarray(x, dtype=np.float32)


def write_golden(folder, model, subs, prep, n, seed, np, keras_preprocess=None):
    """Runs the Keras model itself on a seeded batch and stores inputs and outputs.

    subs: {endpoint name: Keras sub-model}. The inputs are uniform random
    pixels in 0..255 with the model's preprocessing applied: by
    keras_preprocess (the family's own preprocess_input) when given, and
    then the pixels go to golden/pixels.npy too, so that the Go tests check
    that their preprocessing gives Keras' values bit for bit.
    """
    os.makedirs(folder)
    rng = np.random.default_rng(seed)
    h, w, c = model.input_shape[1:]
    pixels = rng.integers(0, 256, size=(n, h, w, c)).astype(np.float32)
    if keras_preprocess is not None:
        x = np.ascontiguousarray(keras_preprocess(pixels.copy()), dtype=np.float32)
        np.save(os.path.join(folder, "pixels.npy"), pixels)
    else:
        x = preprocess_pixels(pixels, prep, np)
    np.save(os.path.join(folder, "input.npy"), x)
    for name, sub in subs.items():
        y = np.asarray(sub(x, training=False), dtype=np.float32)
        np.save(os.path.join(folder, f"{name}.npy"), y)


if __name__ == "__main__":
    main()
