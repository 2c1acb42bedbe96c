package backbone

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"

	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/tfsession"
)

// Plain says how to read a SavedModel that has no metadata.json: one
// written by Keras' model.export(), by tf.saved_model.save, or published
// TF Hub-style. Its signatures say what they take and return; what they
// cannot say (how its images were preprocessed in training, and the input
// size when their spatial size is dynamic) comes from the config. Where
// the folder has a metadata.json, that wins and Plain only may not
// contradict its preprocessing.
type Plain struct {
	// Endpoint names a signature ("serving_default"), and where the
	// signature has several outputs the output too ("serving_default/feature_vector").
	Endpoint string `json:"endpoint"`
	// Preprocess is the config's backbone.preprocess: images.Caffe,
	// images.TF, images.Torch or images.None; "" when the config leaves it out.
	Preprocess string `json:"preprocess"`
	// Height and Width are the input size where the signature's is
	// dynamic (the config's images.size).
	Height int `json:"height"`
	Width  int `json:"width"`
}

// SourceFiles is Weights.Source of a SavedModel without metadata.json:
// nothing says where its weights came from.
const SourceFiles = "savedmodel"

// PreprocessModes are backbone.preprocess's values.
var PreprocessModes = []string{images.Caffe, images.TF, images.Torch, images.None}

// Describe returns the metadata of the SavedModel in dir: its
// metadata.json, or with none, what its signatures and plain say (see
// Plain); plain nil requires a metadata.json. It loads no model.
func Describe(dir string, plain *Plain) (Metadata, error) {
	meta, err := describe(dir, plain)
	if err != nil {
		return meta, fmt.Errorf("backbone %s: %w", dir, err)
	}
	return meta, nil
}

func describe(dir string, plain *Plain) (Metadata, error) {
	if _, err := os.Stat(filepath.Join(dir, "metadata.json")); err == nil || plain == nil {
		meta, err := readMetadata(dir)
		if err != nil {
			return meta, err
		}
		if plain != nil && plain.Preprocess != "" && plain.Preprocess != meta.Input.Preprocessing.Mode {
			return meta, fmt.Errorf("backbone.preprocess %q: metadata.json says the model takes %q preprocessing; leave backbone.preprocess out for a model with metadata.json",
				plain.Preprocess, meta.Input.Preprocessing.Mode)
		}
		return meta, nil
	}
	if st, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Metadata{}, fmt.Errorf("no such folder; %s", ExportHint)
		}
		return Metadata{}, err
	} else if !st.IsDir() {
		return Metadata{}, fmt.Errorf("not a folder; want a SavedModel folder (%s)", ExportHint)
	}
	return describePlain(dir, *plain)
}

// imageSig is a signature that takes one image batch.
type imageSig struct {
	name    string
	inKey   string
	dtype   string // "float32" or "uint8"
	h, w    int64  // -1: dynamic
	outputs map[string]*corepb.TensorInfo
}

// describePlain is Describe for a SavedModel without metadata.json.
func describePlain(dir string, plain Plain) (Metadata, error) {
	mg, err := ReadMetaGraph(dir)
	if err != nil {
		return Metadata{}, err
	}
	sigs := mg.GetSignatureDef()
	imgs := map[string]imageSig{}
	var why []string
	for _, name := range sortedKeys(sigs) {
		s, err := asImageSig(name, sigs[name])
		if err != nil {
			why = append(why, err.Error())
			continue
		}
		imgs[name] = s
	}
	if len(imgs) == 0 {
		return Metadata{}, fmt.Errorf("no metadata.json and no image signature (one input [batch, height, width, 3] of float32 or uint8): %s; %s",
			strings.Join(why, "; "), ExportHint)
	}
	sigName, outKey, _ := strings.Cut(plain.Endpoint, "/")
	s, ok := imgs[sigName]
	if !ok {
		if sig, isSig := sigs[sigName]; isSig && !strings.HasPrefix(sigName, "__") {
			_, err := asImageSig(sigName, sig)
			return Metadata{}, fmt.Errorf("backbone.endpoint %q: %w (endpoints: %s)", plain.Endpoint, err, strings.Join(plainEndpoints(imgs), ", "))
		}
		return Metadata{}, fmt.Errorf("backbone.endpoint %q: no such signature; the SavedModel has no metadata.json, so an endpoint is a signature, or signature/output where it has several outputs: %s",
			plain.Endpoint, strings.Join(plainEndpoints(imgs), ", "))
	}
	if outKey == "" {
		if len(s.outputs) != 1 {
			return Metadata{}, fmt.Errorf("backbone.endpoint %q: signature %s has %d outputs; name one: %s", plain.Endpoint, sigName, len(s.outputs), strings.Join(plainEndpoints(map[string]imageSig{sigName: s}), ", "))
		}
		outKey = sortedKeys(s.outputs)[0]
	}
	out, ok := s.outputs[outKey]
	if !ok {
		return Metadata{}, fmt.Errorf("backbone.endpoint %q: signature %s has no output %q (have %s)", plain.Endpoint, sigName, outKey, keys(s.outputs))
	}
	shape := dims(out.GetTensorShape())
	if len(shape) < 2 || shape[0] != -1 || slices.Contains(shape[1:], -1) {
		return Metadata{}, fmt.Errorf("backbone.endpoint %q: output %s has shape %v; want a batch dimension and known feature dimensions", plain.Endpoint, outKey, shape)
	}
	if !slices.Contains(PreprocessModes, plain.Preprocess) {
		got := "it is missing"
		if plain.Preprocess != "" {
			got = fmt.Sprintf("got %q", plain.Preprocess)
		}
		return Metadata{}, fmt.Errorf("backbone.preprocess: required for a SavedModel without metadata.json (%s): how its images were preprocessed in training, one of %s "+
			"(caffe: BGR, ImageNet mean subtracted, as ResNet50 and VGG; tf: -1..1, as MobileNet, Inception, ResNetV2; torch: 0..1 normalised, as DenseNet; none: 0..255, as EfficientNet and ConvNeXt, which normalise inside)",
			got, strings.Join(PreprocessModes, ", "))
	}
	if s.dtype == "uint8" && plain.Preprocess != images.None {
		return Metadata{}, fmt.Errorf("backbone.preprocess %q: signature %s takes uint8 pixels 0..255, which only preprocess none gives", plain.Preprocess, sigName)
	}
	h, w := s.h, s.w
	if h < 0 {
		h = int64(plain.Height)
	}
	if w < 0 {
		w = int64(plain.Width)
	}
	if h <= 0 || w <= 0 {
		return Metadata{}, fmt.Errorf("backbone.endpoint %q: signature %s's spatial size is dynamic and no images.size was given", plain.Endpoint, sigName)
	}
	sum, err := FilesFingerprint(dir)
	if err != nil {
		return Metadata{}, err
	}
	three := int64(3)
	shapeJSON := func(d []int64) []*int64 {
		s := make([]*int64, len(d))
		for i := range d {
			if d[i] >= 0 {
				s[i] = &d[i]
			}
		}
		return s
	}
	return Metadata{
		Architecture: "savedmodel " + filepath.Base(filepath.Clean(dir)),
		Weights:      Weights{Source: SourceFiles, Path: dir, SHA256: sum},
		Input: Input{
			SignatureKey: s.inKey, DType: s.dtype, Shape: shapeJSON([]int64{-1, h, w, three}), Layout: "NHWC",
			Preprocessing: Preprocessing{Mode: plain.Preprocess, ValueRange: "as backbone.preprocess states (no metadata.json)"},
		},
		Endpoints: map[string]EndpointInfo{plain.Endpoint: {
			Layer: plain.Endpoint, Shape: shapeJSON(shape),
			signature: sigName, inputKey: s.inKey, output: outKey, dtype: s.dtype,
		}},
		DefaultEndpoint: plain.Endpoint,
		FromSignatures:  true,
	}, nil
}

// asImageSig checks that sig takes one image batch: one input, 4-D with 3
// channels, float32 or uint8.
func asImageSig(name string, sig *corepb.SignatureDef) (imageSig, error) {
	if len(sig.GetInputs()) != 1 {
		return imageSig{}, fmt.Errorf("signature %s has inputs %s, want one image input", name, keys(sig.GetInputs()))
	}
	var s imageSig
	for k, in := range sig.GetInputs() {
		d := dims(in.GetTensorShape())
		switch {
		case len(d) != 4:
			return s, fmt.Errorf("signature %s's input %s has shape %v, not 4-D [batch, height, width, 3]", name, k, d)
		case d[3] != 3:
			return s, fmt.Errorf("signature %s's input %s has shape %v, want 3 channels last", name, k, d)
		}
		switch in.GetDtype() {
		case typespb.DataType_DT_FLOAT:
			s.dtype = "float32"
		case typespb.DataType_DT_UINT8:
			s.dtype = "uint8"
		default:
			return s, fmt.Errorf("signature %s's input %s has dtype %v, want float32 or uint8", name, k, in.GetDtype())
		}
		s.name, s.inKey, s.h, s.w = name, k, d[1], d[2]
	}
	if len(sig.GetOutputs()) == 0 {
		return imageSig{}, fmt.Errorf("signature %s has no outputs", name)
	}
	s.outputs = sig.GetOutputs()
	return s, nil
}

// plainEndpoints lists the endpoints of image signatures: a signature's
// name, and signature/output for each of several outputs.
func plainEndpoints(imgs map[string]imageSig) []string {
	var names []string
	for _, n := range sortedKeys(imgs) {
		outs := sortedKeys(imgs[n].outputs)
		if len(outs) == 1 {
			names = append(names, n)
			continue
		}
		for _, o := range outs {
			names = append(names, n+"/"+o)
		}
	}
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for n := range m {
		if !strings.HasPrefix(n, "__") {
			k = append(k, n)
		}
	}
	slices.Sort(k)
	return k
}

// FilesFingerprint is the sha256, in hex, of a SavedModel folder's
// saved_model.pb and variables/ files: each file's path relative to dir
// and contents, in sorted order.
func FilesFingerprint(dir string) (string, error) {
	var files []string
	for _, p := range []string{tfsession.GraphFile, "variables"} {
		err := filepath.WalkDir(filepath.Join(dir, p), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("fingerprint of %s: %w", dir, err)
		}
	}
	slices.Sort(files)
	h := sha256.New()
	for _, path := range files {
		rel, _ := filepath.Rel(dir, path)
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		st, err := f.Stat()
		if err == nil {
			fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), st.Size())
			_, err = io.Copy(h, f)
		}
		f.Close()
		if err != nil {
			return "", fmt.Errorf("fingerprint of %s: %w", path, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
