// Package export writes a trained classifier as one TensorFlow SavedModel
// that any TensorFlow user can load: Python's tf.saved_model.load, Keras'
// TFSMLayer, TensorFlow Serving, or a Go program through tfgo.
//
// The SavedModel is TF1-style: one MetaGraphDef (tag "serve") whose graph
// holds the preprocessing, the backbone's graph imported from its own
// SavedModel (with its function library), the trained top built by nn, and
// a saver (SaveV2/RestoreV2 over every variable) that loaders run through
// the MetaGraph's SaverDef. It has no object graph, so loaders take their
// TF1 path: signatures from signature_def, variables from variables/.
// Everything is written from Go through TensorFlow's C API; no Python.
//
// Signatures (README documents them):
//
//	serving_default   images      float32 [N, H, W, 3] RGB 0..255 at the input size
//	classify_encoded  image_bytes string [N] (JPEG, PNG, GIF, BMP)
//	both return       probabilities [N, classes], top_k_classes string [N, k], top_k_scores [N, k]
//
// Beside them: assets/labels.txt (class names in label order) and
// metadata.json (source run, config hash, backbone provenance, input
// contract, test metrics).
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	attrpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	graphpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/graph_go_proto"
	nodepb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
	shapepb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_shape_go_proto"
	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
	varpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/variable_go_proto"
	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/evaluate"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/tfsession"
)

// Signature keys, input and output names, files and the format tag.
const (
	ServingKey    = "serving_default"
	EncodedKey    = "classify_encoded"
	ImagesInput   = "images"
	BytesInput    = "image_bytes"
	ProbsOutput   = "probabilities"
	ClassesOutput = "top_k_classes"
	ScoresOutput  = "top_k_scores"
	Tag           = "serve"
	LabelsFile    = "labels.txt"
	MetadataFile  = "metadata.json"
	Format        = "gotransfer.savedmodel/v1"
)

// Model is everything an export needs, as plain values.
type Model struct {
	Name    string
	Top     nn.Spec // the trained layers; Top.Input is the backbone endpoint's output shape, or [H W 3]
	Weights string  // checkpoint prefix of the trained top (nn.Network.Save)
	// Backbone is the frozen model under the top; nil for a model trained
	// from scratch on pixels.
	Backbone      *Backbone
	Height, Width int    // input size
	Preprocess    string // images.Caffe, images.TF, images.Torch or images.None
	DivideBy255   bool
	Resize        string // "nearest" or "bilinear": classify_encoded's resize
	Classes       []string
	TopK          int
	// Source and Test are where the model came from and how it scored,
	// for metadata.json.
	Source Source
	Test   *evaluate.Metrics
	// Manifest is the run's manifest.csv, if any: its training images
	// calibrate the int8 TFLite file, its test images measure it.
	Manifest string
}

// Backbone is a backbone SavedModel and the endpoint the top reads.
type Backbone struct {
	Dir      string
	Endpoint string
	Plain    *backbone.Plain // for a SavedModel without metadata.json (see backbone.Describe)
}

// Source is the run a model was exported from.
type Source struct {
	Run          string `json:"run"`
	ConfigSHA256 string `json:"config_sha256"` // of the run's config.yaml
}

// Metadata is metadata.json.
type Metadata struct {
	Format     string         `json:"format"`
	Model      string         `json:"model"`
	Kind       string         `json:"kind"` // "transfer" or "scratch"
	Source     Source         `json:"source"`
	Classes    []string       `json:"classes"`
	Input      Input          `json:"input"`
	Signatures map[string]Sig `json:"signatures"`
	TopK       int            `json:"top_k"`
	Backbone   *BackboneInfo  `json:"backbone,omitempty"`
	Test       *TestMetrics   `json:"test,omitempty"`
	// Converted lists the TFLite and ONNX files beside the SavedModel
	// (Convert adds them).
	Converted  []Converted `json:"converted,omitempty"`
	TensorFlow string      `json:"tensorflow"`
	ExportedBy string      `json:"exported_by"`
}

// Input is the input contract of serving_default.
type Input struct {
	DType         string `json:"dtype"`
	Shape         []*int `json:"shape"` // [null, H, W, 3]
	Values        string `json:"values"`
	Preprocessing string `json:"preprocessing"` // done inside the graph
	DivideBy255   bool   `json:"divide_by_255"`
	EncodedResize string `json:"encoded_resize"`
}

// Sig lists one signature's input and outputs by key.
type Sig struct {
	Inputs  map[string]string `json:"inputs"`
	Outputs map[string]string `json:"outputs"`
}

// BackboneInfo is the backbone's provenance, from its metadata.json.
type BackboneInfo struct {
	SavedModel   string            `json:"savedmodel"`
	Endpoint     string            `json:"endpoint"`
	Architecture string            `json:"architecture"`
	Weights      backbone.Weights  `json:"weights"`
	Versions     map[string]string `json:"versions"`
}

// TestMetrics are the run's test results for this model.
type TestMetrics struct {
	Examples int     `json:"examples"`
	Accuracy float64 `json:"accuracy"`
	Loss     float64 `json:"loss"`
	K        int     `json:"k"`
	TopK     float64 `json:"top_k_accuracy"`
}

// Options control Write.
type Options struct {
	// Force replaces an existing dir that is an export (and nothing
	// else: never a run folder, a runs folder or anything inside one);
	// without it Write refuses any existing dir.
	Force bool
	// Formats to write (ParseTargets); none means SavedModel alone. The
	// SavedModel is always built, as the converters' source, and left
	// out of dir when Formats do not name it.
	Formats []Target
	// Converter runs the TFLite and ONNX conversions; zero: FindConverter.
	Converter Converter
}

// Write exports m as a SavedModel in dir. It builds everything in a
// temporary folder beside dir and renames it into place at the end, so a
// failure (a full disk, Ctrl-C) leaves no half-written dir.
func Write(dir string, m Model, opts Options) (err error) {
	fail := func(err error) error { return fmt.Errorf("export %s to %s: %w", m.Name, dir, err) }
	if err := check(m); err != nil {
		return fail(err)
	}
	if _, err := os.Stat(dir); err == nil && !opts.Force {
		return fail(fmt.Errorf("%s already exists; choose another folder or pass -force to replace it", dir))
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	if opts.Force {
		if err := checkReplace(dir); err != nil {
			return fail(err)
		}
	}
	conv := opts.Converter
	if needsConverter(opts.Formats) && conv == (Converter{}) {
		if conv, err = FindConverter(); err != nil {
			return fail(err)
		}
	}
	tmp, err := tempDir(dir)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := write(tmp, m); err != nil {
		return fail(err)
	}
	if needsConverter(opts.Formats) {
		if err := Convert(context.Background(), tmp, opts.Formats, m.Manifest, conv); err != nil {
			return fmt.Errorf("export %s to %s: %w", m.Name, dir, errors.Unwrap(err))
		}
		if !slices.Contains(opts.Formats, SavedModel) {
			if err := dropSavedModel(tmp); err != nil {
				return fail(err)
			}
		}
	}
	if opts.Force {
		old := tmp + ".old"
		if err := os.Rename(dir, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fail(err)
		}
		if err := os.Rename(tmp, dir); err != nil {
			os.Rename(old, dir)
			return fail(err)
		}
		os.RemoveAll(old)
		return nil
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fail(err)
	}
	return nil
}

// write fills the empty folder dir.
func write(dir string, m Model) error {
	var bbGraph *graphpb.GraphDef
	var bbSaver *corepb.SaverDef
	var bbIn, bbOut string
	var bbUint8 bool
	var bbMeta backbone.Metadata
	if m.Backbone != nil {
		var err error
		if bbMeta, err = backbone.Describe(m.Backbone.Dir, m.Backbone.Plain); err != nil {
			return err
		}
		mg, err := backbone.ReadMetaGraph(m.Backbone.Dir)
		if err != nil {
			return err
		}
		info, ok := bbMeta.Endpoints[m.Backbone.Endpoint]
		if !ok {
			return fmt.Errorf("backbone %s has no endpoint %q", m.Backbone.Dir, m.Backbone.Endpoint)
		}
		sigName, inKey, outKey, u8 := info.Locate()
		sig, ok := mg.GetSignatureDef()[sigName]
		if !ok {
			return fmt.Errorf("backbone %s has no signature %q", m.Backbone.Dir, sigName)
		}
		in, ok := sig.GetInputs()[inKey]
		out, okOut := sig.GetOutputs()[outKey]
		if outKey == "" && len(sig.GetOutputs()) == 1 {
			for _, o := range sig.GetOutputs() {
				out, okOut = o, true
			}
		}
		if !ok || !okOut {
			return fmt.Errorf("backbone %s: endpoint %s: want input %q and output %q (one output when \"\")", m.Backbone.Dir, m.Backbone.Endpoint, inKey, outKey)
		}
		bbIn, bbOut, bbUint8 = in.GetName(), out.GetName(), u8
		if mg.GetSaverDef().GetRestoreOpName() == "" {
			return fmt.Errorf("backbone %s has no saver to restore its variables with", m.Backbone.Dir)
		}
		bbGraph, bbSaver = mg.GetGraphDef(), mg.GetSaverDef()
	}
	b, err := buildGraph(m, bbGraph, bbIn, bbOut, bbUint8)
	if err != nil {
		return err
	}
	if err := initialise(b, m, bbSaver, tfsession.VariablesPrefix(dir)); err != nil {
		return err
	}
	if err := fsutil.WriteFile(filepath.Join(dir, tfsession.AssetsDir, LabelsFile), []byte(strings.Join(m.Classes, "\n")+"\n")); err != nil {
		return err
	}
	pb, err := savedModel(b, m)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFile(filepath.Join(dir, tfsession.GraphFile), pb); err != nil {
		return err
	}
	meta, err := json.MarshalIndent(metadata(m, b, bbMeta), "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFile(filepath.Join(dir, MetadataFile), append(meta, '\n'))
}

// savedModel is saved_model.pb: one MetaGraphDef with the graph, the
// saver, both signatures and the labels asset.
func savedModel(b *built, m Model) ([]byte, error) {
	var gd graphpb.GraphDef
	if err := proto.Unmarshal(b.graphDef, &gd); err != nil {
		return nil, err
	}
	collections, err := variableCollections(&gd, b.vars)
	if err != nil {
		return nil, err
	}
	info := func(name string, dt typespb.DataType, dims ...int64) *corepb.TensorInfo {
		s := &shapepb.TensorShapeProto{}
		for _, d := range dims {
			s.Dim = append(s.Dim, &shapepb.TensorShapeProto_Dim{Size: d})
		}
		return &corepb.TensorInfo{Encoding: &corepb.TensorInfo_Name{Name: name}, Dtype: dt, TensorShape: s}
	}
	k, c := int64(b.k), int64(len(m.Classes))
	outputs := map[string]*corepb.TensorInfo{
		ProbsOutput:   info(ProbsTensor, typespb.DataType_DT_FLOAT, -1, c),
		ClassesOutput: info(ClassesTensor, typespb.DataType_DT_STRING, -1, k),
		ScoresOutput:  info(ScoresTensor, typespb.DataType_DT_FLOAT, -1, k),
	}
	const predict = "tensorflow/serving/predict"
	mg := &corepb.MetaGraphDef{
		MetaInfoDef: &corepb.MetaGraphDef_MetaInfoDef{Tags: []string{Tag}, TensorflowVersion: tf.Version()},
		GraphDef:    &gd,
		SaverDef: &corepb.SaverDef{
			FilenameTensorName:        saverFilename + ":0",
			SaveTensorName:            saverSave + ":0",
			RestoreOpName:             saverRestore,
			MaxToKeep:                 5,
			KeepCheckpointEveryNHours: 10000,
			Version:                   corepb.SaverDef_V2,
		},
		SignatureDef: map[string]*corepb.SignatureDef{
			ServingKey: {
				Inputs:     map[string]*corepb.TensorInfo{ImagesInput: info(ImagesTensor, typespb.DataType_DT_FLOAT, -1, int64(m.Height), int64(m.Width), 3)},
				Outputs:    outputs,
				MethodName: predict,
			},
			EncodedKey: {
				Inputs:     map[string]*corepb.TensorInfo{BytesInput: info(BytesTensor, typespb.DataType_DT_STRING, -1)},
				Outputs:    outputs,
				MethodName: predict,
			},
		},
		AssetFileDef:  []*corepb.AssetFileDef{{TensorInfo: info(labelsAsset+":0", typespb.DataType_DT_STRING), Filename: LabelsFile}},
		CollectionDef: collections,
	}
	// Deterministic: map fields (node attributes, signatures) in key
	// order, so that exporting the same model twice gives the same bytes.
	return proto.MarshalOptions{Deterministic: true}.Marshal(&corepb.SavedModel{SavedModelSchemaVersion: 1, MetaGraphs: []*corepb.MetaGraphDef{mg}})
}

// variableCollections makes the export's variables findable by
// TensorFlow's V1 loaders, which the TFLite converter (its MLIR import) and
// tf2onnx (its freezing) use: they look a variable up by its VarHandleOp's
// shared_name as a node name, and list the variables from the MetaGraph's
// "variables" and "trainable_variables" collections. Keras names each
// VarHandleOp node as its shared_name; here the backbone's nodes carry the
// import's prefix and the top's are named by scope, so each shared_name
// becomes its node's name (the resource's name in a session: nothing else
// refers to it; checkpoint keys are the saver's). Each VariableDef names the
// handle, the saver's restore op as its initializer (loaders run it) and
// the saver's ReadVariableOp as its snapshot.
func variableCollections(gd *graphpb.GraphDef, vars []variable) (map[string]*corepb.CollectionDef, error) {
	handles := map[string]*nodepb.NodeDef{}
	for _, n := range gd.GetNode() {
		if n.GetOp() == "VarHandleOp" {
			handles[n.GetName()] = n
		}
	}
	var all, trainable [][]byte
	for _, v := range vars {
		name := v.handle.Op.Name()
		n, ok := handles[name]
		if !ok || v.read == "" {
			return nil, fmt.Errorf("variable %s: no VarHandleOp %s or no read of it in the graph", v.key, name)
		}
		n.Attr["shared_name"] = &attrpb.AttrValue{Value: &attrpb.AttrValue_S{S: []byte(name)}}
		def, err := proto.Marshal(&varpb.VariableDef{
			VariableName:    name + ":0",
			InitializerName: saverRestore,
			SnapshotName:    v.read + ":0",
			IsResource:      true,
			Trainable:       v.trainable,
		})
		if err != nil {
			return nil, err
		}
		all = append(all, def)
		if v.trainable {
			trainable = append(trainable, def)
		}
		delete(handles, name)
	}
	if len(handles) > 0 {
		return nil, fmt.Errorf("%d variables in the graph that the saver does not save (%s, ...)", len(handles), slices.Sorted(maps.Keys(handles))[0])
	}
	list := func(v [][]byte) *corepb.CollectionDef {
		return &corepb.CollectionDef{Kind: &corepb.CollectionDef_BytesList_{BytesList: &corepb.CollectionDef_BytesList{Value: v}}}
	}
	return map[string]*corepb.CollectionDef{"variables": list(all), "trainable_variables": list(trainable)}, nil
}

func metadata(m Model, b *built, bb backbone.Metadata) Metadata {
	h, w, three := m.Height, m.Width, 3
	sig := func(in string) Sig {
		return Sig{Inputs: map[string]string{in: map[string]string{ImagesInput: ImagesTensor, BytesInput: BytesTensor}[in]},
			Outputs: map[string]string{ProbsOutput: ProbsTensor, ClassesOutput: ClassesTensor, ScoresOutput: ScoresTensor}}
	}
	md := Metadata{
		Format: Format, Model: m.Name, Kind: "scratch", Source: m.Source, Classes: m.Classes, TopK: b.k,
		Input: Input{
			DType: "float32", Shape: []*int{nil, &h, &w, &three},
			Values:        "RGB pixel values 0..255, already at the input size (classify_encoded resizes)",
			Preprocessing: m.Preprocess, DivideBy255: m.DivideBy255, EncodedResize: m.Resize,
		},
		Signatures: map[string]Sig{ServingKey: sig(ImagesInput), EncodedKey: sig(BytesInput)},
		TensorFlow: tf.Version(),
		ExportedBy: "gotransfer pipeline export (Go, TensorFlow C API)",
	}
	if m.Backbone != nil {
		md.Kind = "transfer"
		md.Backbone = &BackboneInfo{SavedModel: m.Backbone.Dir, Endpoint: m.Backbone.Endpoint,
			Architecture: bb.Architecture, Weights: bb.Weights, Versions: bb.Versions}
	}
	if t := m.Test; t != nil {
		md.Test = &TestMetrics{Examples: t.N, Accuracy: t.Accuracy, Loss: t.Loss, K: t.K, TopK: t.TopK}
	}
	return md
}

// check rejects a Model that cannot be exported, before any work.
func check(m Model) error {
	switch {
	case len(m.Classes) < 2:
		return fmt.Errorf("%d classes; need at least 2", len(m.Classes))
	case m.Height <= 0 || m.Width <= 0:
		return fmt.Errorf("input size %d×%d", m.Height, m.Width)
	case m.TopK <= 0:
		return fmt.Errorf("top_k %d; want at least 1", m.TopK)
	case !slices.Contains([]string{"nearest", "bilinear"}, m.Resize):
		return fmt.Errorf("resize %q; want nearest or bilinear", m.Resize)
	}
	if _, err := os.Stat(m.Weights + ".index"); err != nil {
		return fmt.Errorf("no trained weights at %s (%w); has the run finished?", m.Weights, err)
	}
	return nil
}
