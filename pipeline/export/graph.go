package export

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	attrpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	funcpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/function_go_proto"
	graphpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/graph_go_proto"
	nodepb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
	opdefpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/op_def_go_proto"
	tensorpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_go_proto"
	shapepb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_shape_go_proto"
	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"github.com/galeone/tensorflow/tensorflow/go/op"
	"google.golang.org/protobuf/proto"

	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/tfsession"
)

// Tensor names in the exported graph. They are fixed, so a Go program can
// feed and fetch them by name without parsing the signatures.
const (
	ImagesTensor   = "images:0"        // float32 [N, H, W, 3], RGB, 0..255
	BytesTensor    = "image_bytes:0"   // string [N]: encoded images
	ProbsTensor    = "probabilities:0" // float32 [N, classes]
	ClassesTensor  = "top_k_classes:0" // string [N, k]
	ScoresTensor   = "top_k_scores:0"  // float32 [N, k]
	saverFilename  = "saver_filename"
	saverRestore   = "saver/restore_all"
	saverSave      = "saver/control_dependency"
	labelsAsset    = "labels_asset"
	decodeFunction = "gotransfer_decode_image"
	backboneScope  = "backbone"
	topPrefix      = "top/" // checkpoint keys and resource names of the trained top
)

// built is the export graph before its variables have values.
type built struct {
	graph    *tf.Graph
	graphDef []byte // serialised before the one-off initialisation ops are added
	vars     []variable
	k        int
}

// variable is one variable the export's saver saves and restores.
type variable struct {
	key       string // checkpoint key
	handle    tf.Output
	dtype     tf.DataType
	trainable bool   // trained by the run (the top's weights, not its statistics)
	read      string // the saver's ReadVariableOp of it, set by saver
}

// buildGraph builds the export graph: image bytes decoded and resized
// (classify_encoded), or pixels fed directly (serving_default), then the
// preprocessing, the backbone's graph imported from its SavedModel, the
// trained top, top-k, and a saver over every variable.
func buildGraph(m Model, bbGraph *graphpb.GraphDef, bbInput, bbOutput string, bbUint8 bool) (b *built, err error) {
	if perr := tfsession.Guard(func() error { b, err = buildGraphOps(m, bbGraph, bbInput, bbOutput, bbUint8); return nil }); perr != nil {
		return nil, fmt.Errorf("building the graph: %w", perr)
	}
	return b, err
}

// buildGraphOps is buildGraph without the guard.
func buildGraphOps(m Model, bbGraph *graphpb.GraphDef, bbInput, bbOutput string, bbUint8 bool) (b *built, err error) {
	g := tf.NewGraph()
	// The decoding function and its MapDefun come as a GraphDef: the Go
	// binding cannot set function-valued attributes.
	dec, err := proto.Marshal(decodeGraph(m.Height, m.Width, m.Resize))
	if err != nil {
		return nil, err
	}
	if err := g.Import(dec, ""); err != nil {
		return nil, fmt.Errorf("importing the decoding function: %w", err)
	}
	s := op.NewScopeWithGraph(g)
	decoded := g.Operation("decode_images").Output(0)
	x := named(s, "PlaceholderWithDefault", "images", []tf.Input{decoded}, map[string]any{"dtype": tf.Float, "shape": tf.MakeShape(-1, int64(m.Height), int64(m.Width), 3)})

	ps := s.SubScope("preprocess")
	if x, err = preprocess(ps, x, m.Preprocess, m.DivideBy255); err != nil {
		return nil, err
	}
	if bbGraph != nil {
		if err := s.Err(); err != nil {
			return nil, err
		}
		if bbUint8 { // pixels 0..255, as backbone.Model.Run rounds them
			x = op.Cast(s.SubScope("to_uint8"), op.Round(s.SubScope("round"), op.ClipByValue(s.SubScope("clip"), x, op.Const(s.SubScope("lo"), float32(0)), op.Const(s.SubScope("hi"), float32(255)))), tf.Uint8)
			if err := s.Err(); err != nil {
				return nil, err
			}
		}
		opts := tf.GraphImportOptions{Prefix: backboneScope}
		name, idx, err := splitTensor(bbInput)
		if err != nil {
			return nil, err
		}
		opts.AddInputMapping(name, idx, x)
		def, err := proto.Marshal(bbGraph)
		if err != nil {
			return nil, err
		}
		if err := g.ImportWithOptions(def, opts); err != nil {
			return nil, fmt.Errorf("importing the backbone's graph: %w", err)
		}
		name, idx, err = splitTensor(bbOutput)
		if err != nil {
			return nil, err
		}
		o := g.Operation(backboneScope + "/" + name)
		if o == nil {
			return nil, fmt.Errorf("backbone output %s not in its graph", bbOutput)
		}
		x = o.Output(idx)
	}
	probs, topVars, err := nn.Inference(s.SubScope("top"), x, m.Top, topPrefix)
	if err != nil {
		return nil, err
	}
	b = &built{graph: g, k: min(m.TopK, len(m.Classes))}
	probs = named(s, "Identity", "probabilities", []tf.Input{probs}, nil)
	ks := s.SubScope("top_k")
	scores, idx := op.TopKV2(ks, probs, op.Const(ks.SubScope("k"), int32(b.k)))
	classes := op.GatherV2(ks, op.Const(ks.SubScope("classes"), m.Classes), idx, op.Const(ks.SubScope("axis"), int32(0)))
	named(s, "Identity", "top_k_scores", []tf.Input{scores}, nil)
	named(s, "Identity", "top_k_classes", []tf.Input{classes}, nil)
	// The asset's path: loaders feed it with the absolute path of
	// assets/labels.txt. The graph's class names are constants (above).
	as := s.SubScope("asset")
	named(s, "PlaceholderWithDefault", labelsAsset, []tf.Input{op.Const(as, LabelsFile)}, map[string]any{"dtype": tf.String, "shape": tf.ScalarShape()})

	for _, o := range g.Operations() {
		if o.Type() == "VarHandleOp" && strings.HasPrefix(o.Name(), backboneScope+"/") {
			dt, err := o.Attr("dtype")
			if err != nil {
				return nil, err
			}
			b.vars = append(b.vars, variable{key: o.Name(), handle: o.Output(0), dtype: dt.(tf.DataType)})
		}
	}
	for _, v := range topVars {
		b.vars = append(b.vars, variable{key: topPrefix + v.Name, handle: v.Handle(), dtype: tf.Float, trainable: v.Trainable})
	}
	slices.SortFunc(b.vars, func(a, c variable) int { return strings.Compare(a.key, c.key) })
	saver(s, b.vars)
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("building the graph: %w", err)
	}
	var buf bytes.Buffer
	if _, err := g.WriteTo(&buf); err != nil {
		return nil, err
	}
	b.graphDef = buf.Bytes()
	return b, nil
}

// preprocess applies mode's steps (images.PreprocessSteps), as Preprocess
// does in Go, to float32 pixels, giving the same float32 values.
func preprocess(s *op.Scope, x tf.Output, mode string, divide255 bool) (tf.Output, error) {
	st, err := images.PreprocessSteps(mode)
	if err != nil {
		return x, err
	}
	if st.BGR {
		x = op.ReverseV2(s.SubScope("bgr"), x, op.Const(s.SubScope("bgr_axis"), []int32{-1}))
	}
	if st.Div != 1 {
		x = op.RealDiv(s.SubScope("div"), x, divisor(s.SubScope("div_by"), st.Div))
	}
	if st.Mean != [3]float32{} {
		x = op.Sub(s.SubScope("sub"), x, op.Const(s.SubScope("mean"), st.Mean[:]))
	}
	if st.Std != [3]float32{1, 1, 1} {
		x = op.RealDiv(s.SubScope("std"), x, divisor(s.SubScope("std_by"), st.Std[:]))
	}
	if divide255 {
		x = op.RealDiv(s.SubScope("div255"), x, divisor(s.SubScope("by255"), float32(255)))
	}
	return x, nil
}

// divisor is a constant divisor that TensorFlow's graph optimiser leaves
// alone. Grappler's constant folding (ReduceDivToReciprocalMul) rewrites
// x / Const as x * (1/Const), up to a float32 ulp off the division Go and
// NumPy do; it applies only to "really constant" divisors, which a
// PlaceholderWithDefault is not.
func divisor(s *op.Scope, v any) tf.Output {
	c := op.Const(s, v)
	return op.PlaceholderWithDefault(s, c, c.Shape())
}

// saver adds a TF1 saver over vars: SaveV2 and RestoreV2 at the prefix fed
// to saver_filename, as the MetaGraph's SaverDef describes it to loaders.
func saver(s *op.Scope, vars []variable) {
	file := named(s, "Placeholder", saverFilename, nil, map[string]any{"dtype": tf.String, "shape": tf.ScalarShape()})
	ss := s.SubScope("saver")
	keys := make([]string, len(vars))
	specs := make([]string, len(vars)) // whole tensors
	dtypes := make([]tf.DataType, len(vars))
	reads := make([]tf.Output, len(vars))
	for i, v := range vars {
		keys[i], dtypes[i] = v.key, v.dtype
		reads[i] = op.ReadVariableOp(ss.SubScope("read"), v.handle, v.dtype)
		vars[i].read = reads[i].Op.Name()
	}
	names := op.Const(ss.SubScope("tensor_names"), keys)
	shapes := op.Const(ss.SubScope("shape_and_slices"), specs)
	save := op.SaveV2(ss, file, names, shapes, reads)
	named(s.WithControlDependencies(save), "Identity", saverSave, []tf.Input{file}, nil)
	restored := op.RestoreV2(ss, file, names, shapes, dtypes)
	var assigns []*tf.Operation
	for i, v := range vars {
		assigns = append(assigns, op.AssignVariableOp(ss.SubScope("assign"), v.handle, restored[i]))
	}
	s.WithControlDependencies(assigns...).AddOperation(tf.OpSpec{Type: "NoOp", Name: saverRestore})
}

// restoreTop adds ops (after the graph was serialised) that read the
// trained top's values from the run's checkpoint, where they are named
// without topPrefix.
func restoreTop(s *op.Scope, vars []variable) (prefix tf.Output, restore *tf.Operation) {
	rs := s.SubScope("init_top")
	prefix = op.Placeholder(rs.SubScope("prefix"), tf.String, op.PlaceholderShape(tf.ScalarShape()))
	var keys []string
	var top []variable
	for _, v := range vars {
		if k, ok := strings.CutPrefix(v.key, topPrefix); ok {
			keys = append(keys, k)
			top = append(top, v)
		}
	}
	dtypes := make([]tf.DataType, len(top))
	for i := range dtypes {
		dtypes[i] = tf.Float
	}
	restored := op.RestoreV2(rs, prefix, op.Const(rs.SubScope("names"), keys), op.Const(rs.SubScope("slices"), make([]string, len(top))), dtypes)
	var assigns []*tf.Operation
	for i, v := range top {
		assigns = append(assigns, op.AssignVariableOp(rs.SubScope("assign"), v.handle, restored[i]))
	}
	return prefix, op.NoOp(rs.WithControlDependencies(assigns...))
}

// initialise gives every variable its value in a session over b's graph
// (the backbone's from its SavedModel, the top's from the run's
// checkpoint) and saves them all with the export's own saver at prefix.
func initialise(b *built, m Model, bbSaver *corepb.SaverDef, prefix string) (err error) {
	if perr := tfsession.Guard(func() error { err = initialiseOps(b, m, bbSaver, prefix); return nil }); perr != nil {
		return fmt.Errorf("writing the variables: %w", perr)
	}
	return err
}

// initialiseOps is initialise without the guard.
func initialiseOps(b *built, m Model, bbSaver *corepb.SaverDef, prefix string) error {
	s := op.NewScopeWithGraph(b.graph)
	topPrefixIn, restore := restoreTop(s, b.vars)
	if err := s.Err(); err != nil {
		return err
	}
	sess, err := tfsession.New(b.graph, tfsession.Options{})
	if err != nil {
		return err
	}
	defer sess.Close()
	str := func(v string) *tf.Tensor { t, _ := tf.NewTensor(v); return t }
	if m.Backbone != nil {
		name, idx, err := splitTensor(bbSaver.GetFilenameTensorName())
		if err != nil {
			return err
		}
		file := b.graph.Operation(backboneScope + "/" + name)
		rop := b.graph.Operation(backboneScope + "/" + bbSaver.GetRestoreOpName())
		if file == nil || rop == nil {
			return fmt.Errorf("backbone %s: its saver's ops %s, %s are not in its graph", m.Backbone.Dir, bbSaver.GetFilenameTensorName(), bbSaver.GetRestoreOpName())
		}
		vp := tfsession.VariablesPrefix(m.Backbone.Dir)
		if _, err := sess.Run(map[tf.Output]*tf.Tensor{file.Output(idx): str(vp)}, nil, []*tf.Operation{rop}); err != nil {
			return fmt.Errorf("restoring the backbone's variables from %s: %w", vp, err)
		}
	}
	if _, err := sess.Run(map[tf.Output]*tf.Tensor{topPrefixIn: str(m.Weights)}, nil, []*tf.Operation{restore}); err != nil {
		return fmt.Errorf("restoring the trained top from %s: %w", m.Weights, err)
	}
	if err := os.MkdirAll(filepath.Dir(prefix), 0o755); err != nil {
		return err
	}
	file := b.graph.Operation(saverFilename).Output(0)
	save := b.graph.Operation(saverSave).Output(0)
	if _, err := sess.Run(map[tf.Output]*tf.Tensor{file: str(prefix)}, []tf.Output{save}, nil); err != nil {
		return fmt.Errorf("saving the variables: %w", err)
	}
	return nil
}

// named adds one op with an exact name (the binding's op functions name
// ops after their type).
func named(s *op.Scope, typ, name string, in []tf.Input, attrs map[string]any) tf.Output {
	o := s.AddOperation(tf.OpSpec{Type: typ, Name: name, Input: in, Attrs: attrs})
	if o == nil {
		return tf.Output{}
	}
	return o.Output(0)
}

// decodeGraph is a GraphDef holding image_bytes (string [N]) and
// decode_images, a MapDefun that runs gotransfer_decode_image on each
// element: DecodeImage (JPEG, PNG, GIF's first frame, BMP) to RGB, float32,
// resized to h×w (nearest: ResizeNearestNeighbor with half-pixel centres;
// bilinear: ResizeBilinear with half-pixel centres, no antialiasing).
func decodeGraph(h, w int, resize string) *graphpb.GraphDef {
	typ := func(t typespb.DataType) *attrpb.AttrValue {
		return &attrpb.AttrValue{Value: &attrpb.AttrValue_Type{Type: t}}
	}
	i := func(v int64) *attrpb.AttrValue { return &attrpb.AttrValue{Value: &attrpb.AttrValue_I{I: v}} }
	bl := func(v bool) *attrpb.AttrValue { return &attrpb.AttrValue{Value: &attrpb.AttrValue_B{B: v}} }
	shape := func(d ...int64) *shapepb.TensorShapeProto {
		s := &shapepb.TensorShapeProto{}
		for _, x := range d {
			s.Dim = append(s.Dim, &shapepb.TensorShapeProto_Dim{Size: x})
		}
		return s
	}
	ints := func(v ...int32) *attrpb.AttrValue {
		return &attrpb.AttrValue{Value: &attrpb.AttrValue_Tensor{Tensor: &tensorpb.TensorProto{
			Dtype: typespb.DataType_DT_INT32, TensorShape: shape(int64(len(v))), IntVal: v}}}
	}
	node := func(name, opType string, in []string, attrs map[string]*attrpb.AttrValue) *nodepb.NodeDef {
		return &nodepb.NodeDef{Name: name, Op: opType, Input: in, Attr: attrs}
	}
	resizeOp := "ResizeNearestNeighbor"
	if resize == "bilinear" {
		resizeOp = "ResizeBilinear"
	}
	fn := &funcpb.FunctionDef{
		Signature: &opdefpb.OpDef{
			Name:      decodeFunction,
			InputArg:  []*opdefpb.OpDef_ArgDef{{Name: "contents", Type: typespb.DataType_DT_STRING}},
			OutputArg: []*opdefpb.OpDef_ArgDef{{Name: "image", Type: typespb.DataType_DT_FLOAT}},
		},
		NodeDef: []*nodepb.NodeDef{
			node("decode", "DecodeImage", []string{"contents"}, map[string]*attrpb.AttrValue{
				"channels": i(3), "dtype": typ(typespb.DataType_DT_UINT8), "expand_animations": bl(false)}),
			node("cast", "Cast", []string{"decode:image:0"}, map[string]*attrpb.AttrValue{
				"SrcT": typ(typespb.DataType_DT_UINT8), "DstT": typ(typespb.DataType_DT_FLOAT), "Truncate": bl(false)}),
			node("axis", "Const", nil, map[string]*attrpb.AttrValue{"dtype": typ(typespb.DataType_DT_INT32), "value": {Value: &attrpb.AttrValue_Tensor{Tensor: &tensorpb.TensorProto{
				Dtype: typespb.DataType_DT_INT32, TensorShape: shape(), IntVal: []int32{0}}}}}),
			node("batch", "ExpandDims", []string{"cast:y:0", "axis:output:0"}, map[string]*attrpb.AttrValue{
				"T": typ(typespb.DataType_DT_FLOAT), "Tdim": typ(typespb.DataType_DT_INT32)}),
			node("size", "Const", nil, map[string]*attrpb.AttrValue{"dtype": typ(typespb.DataType_DT_INT32), "value": ints(int32(h), int32(w))}),
			node("resize", resizeOp, []string{"batch:output:0", "size:output:0"}, map[string]*attrpb.AttrValue{
				"T": typ(typespb.DataType_DT_FLOAT), "align_corners": bl(false), "half_pixel_centers": bl(true)}),
			node("squeeze", "Squeeze", []string{"resize:resized_images:0"}, map[string]*attrpb.AttrValue{
				"T": typ(typespb.DataType_DT_FLOAT), "squeeze_dims": {Value: &attrpb.AttrValue_List{List: &attrpb.AttrValue_ListValue{I: []int64{0}}}}}),
		},
		Ret: map[string]string{"image": "squeeze:output:0"},
	}
	list := func(l *attrpb.AttrValue_ListValue) *attrpb.AttrValue {
		return &attrpb.AttrValue{Value: &attrpb.AttrValue_List{List: l}}
	}
	return &graphpb.GraphDef{
		Node: []*nodepb.NodeDef{
			node("image_bytes", "Placeholder", nil, map[string]*attrpb.AttrValue{
				"dtype": typ(typespb.DataType_DT_STRING), "shape": {Value: &attrpb.AttrValue_Shape{Shape: shape(-1)}}}),
			node("decode_images", "MapDefun", []string{"image_bytes"}, map[string]*attrpb.AttrValue{
				"Targuments":    list(&attrpb.AttrValue_ListValue{Type: []typespb.DataType{typespb.DataType_DT_STRING}}),
				"Tcaptured":     list(&attrpb.AttrValue_ListValue{}),
				"output_types":  list(&attrpb.AttrValue_ListValue{Type: []typespb.DataType{typespb.DataType_DT_FLOAT}}),
				"output_shapes": list(&attrpb.AttrValue_ListValue{Shape: []*shapepb.TensorShapeProto{shape(int64(h), int64(w), 3)}}),
				"f":             {Value: &attrpb.AttrValue_Func{Func: &attrpb.NameAttrList{Name: decodeFunction}}},
			}),
		},
		Library: &funcpb.FunctionDefLibrary{Function: []*funcpb.FunctionDef{fn}},
	}
}

// splitTensor splits "op:index".
func splitTensor(t string) (string, int, error) {
	name, idx, ok := strings.Cut(t, ":")
	if !ok {
		return t, 0, nil
	}
	var i int
	if _, err := fmt.Sscan(idx, &i); err != nil {
		return "", 0, fmt.Errorf("tensor name %q: want op:index", t)
	}
	return name, i, nil
}
