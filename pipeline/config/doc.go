// Package config reads, checks and writes the YAML file that configures a
// gotransfer run: which images to load, how to preprocess them, which
// models to train (Keras vocabulary: layers, optimizer, loss, epochs) and
// where results go.
//
// Load reads a file, Parse does the same for bytes in memory. Both decode
// strictly: an unknown key, a duplicate key or a value of the wrong type is
// an error reported as
//
//	configs/vgg16.yaml:12: train.epocs: unknown key (known: batch_size, early_stopping, epochs, ...)
//	configs/x.yaml:7: train.epochs: want an integer, got "ten"
//
// with the line and the dotted key path. All errors found are returned at
// once (joined with errors.Join, ordered by line), so that a user can fix
// them in one go. Type errors are reported before rule errors (a split that
// does not sum to 1, a model whose last layer is not a softmax, ...): the
// rules are checked only once every value has the right type.
//
// Overrides such as "train.epochs=3", "data.exclude=[a, b]" or
// "models.0.layers.0.dense.units=64" (a dotted path of map keys and list
// indexes, "=", then a YAML value) are applied to the parsed YAML before it
// is decoded, so they are checked exactly like the file. Errors they cause
// name the override instead of a line:
//
//	-set train.epocs=3: train.epocs: unknown key (known: ...)
//
// A key whose value is empty (null) counts as left out: it keeps its
// default, or is an error when the key is required. String values accept
// any YAML scalar as written, so class folders named 0..9 can be listed
// without quotes. Anchors and aliases are expanded; merge keys ("<<") are
// not supported.
//
// Config.Marshal writes the effective configuration back, every key with
// defaults filled in and in a fixed order, so that it can be stored in a
// run folder; loading that file gives an identical Config. Config.Flatten
// lists every leaf as a dotted path and a value, to compare runs.
//
// # Schema
//
// The defaults are those of Default (see defaults.go). Keys marked
// "required" have no default.
//
//	name: vgg16-caltech101   # required; run name, [A-Za-z0-9._-]+
//	seed: 42                 # every random choice derives from it
//	runs_dir: runs           # where run folders are written
//	data:
//	  dir: data/caltech101/101_ObjectCategories  # required; a folder of class folders
//	  download: ""           # dataset fetched when dir is missing: "", caltech101, fashion-mnist
//	  exclude: []            # class folder names to skip
//	  extensions: [.jpg, .jpeg, .png]  # matched case-insensitively; stored in lower case
//	  split: {train: 0.7, val: 0.15, test: 0.15}  # all three; each in [0,1], sum 1; train, test > 0
//	  stratify: false        # false: shuffle then split by position, as the notebook does
//	  max_per_class: 0       # images per class, 0 = no cap
//	  on_bad_image: error    # error or skip
//	images:
//	  size: [224, 224]       # [height, width]
//	  resize: nearest        # nearest (Keras load_img default) or bilinear
//	  preprocess: caffe      # caffe, tf, torch or none
//	  divide_by_255: false   # the notebook's extra ÷255 after preprocessing
//	  workers: 0             # decode goroutines, 0 = runtime.NumCPU()
//	features:
//	  cache_dir: cache/features
//	  batch_size: 8          # backbone batch size (8: as fast as 32 on CPU, a third of the memory)
//	train:
//	  optimizer:             # exactly one key naming the optimizer
//	    adam: {learning_rate: 0.001, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-07}
//	  loss: categorical_crossentropy
//	  batch_size: 128
//	  epochs: 10
//	  shuffle: true          # reshuffle training batches each epoch (seeded)
//	  early_stopping: null   # off; or a map, Keras defaults for keys left out:
//	                         # {monitor: val_loss, patience: 0, min_delta: 0, restore_best_weights: false}
//	evaluate:
//	  top_k: 5
//	predict:
//	  top_k: 5
//	export:
//	  savedmodel: true       # export each model as a SavedModel into models/<name>/savedmodel/
//	models:                  # required, at least one, unique names
//	  - name: vgg16_transfer # required, [A-Za-z0-9._-]+
//	    backbone:            # optional: train on features of a frozen backbone
//	      savedmodel: savedmodels/vgg16  # required
//	      endpoint: fc2                  # required; where to cut the backbone
//	    image_size: null     # [height, width] for models without backbone; default images.size
//	    layers:              # required; each item has one key naming the layer type
//	      - dense: {units: 256, activation: relu}
//	      - dropout: {rate: 0.5}
//	      - dense: {units: classes, activation: softmax}
//
// Layer types and their keys:
//
//	dense:    units (required; > 0 or "classes"), activation (linear, relu, softmax; default linear), use_bias (default true)
//	dropout:  rate (required; in [0, 1))
//	conv2d:   filters (required; > 0), kernel_size (required), strides (default 1),
//	          padding (valid or same; default valid), activation (linear or relu; default linear)
//	max_pool: pool_size (default 2), strides (default pool_size), padding (valid or same; default valid)
//	flatten:  no keys; write "- flatten: {}" or "- flatten:"
//
// kernel_size, strides and pool_size take an integer n, meaning [n, n], or
// [height, width].
//
// The last layer of every model must be a dense layer with units "classes"
// and activation softmax, because the loss is categorical cross-entropy on
// probabilities. conv2d and max_pool need image input, so they are allowed
// only in models without a backbone; such a model needs a flatten between
// its last conv2d or max_pool and its first dense layer.
package config
