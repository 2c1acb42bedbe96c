package tfsession

import "path/filepath"

// The files of a SavedModel folder, as TensorFlow's loader and exporters
// name them.
const (
	// GraphFile holds the SavedModel proto: meta graphs, signatures, saver.
	GraphFile = "saved_model.pb"
	// FingerprintFile is TensorFlow's fingerprint of the graph, signatures
	// and checkpoint.
	FingerprintFile = "fingerprint.pb"
	// VariablesDir holds the checkpoint of the variables (the weights).
	VariablesDir = "variables"
	// AssetsDir holds files the graph reads (a labels file, for one).
	AssetsDir = "assets"
)

// VariablesPrefix is the checkpoint prefix of the SavedModel in dir
// (dir/variables/variables), as SaveV2 and RestoreV2 take it.
func VariablesPrefix(dir string) string { return filepath.Join(dir, VariablesDir, "variables") }

// VariablesIndex is the checkpoint's index file, without which TensorFlow
// loads the SavedModel and fails only when it runs.
func VariablesIndex(dir string) string { return VariablesPrefix(dir) + ".index" }
