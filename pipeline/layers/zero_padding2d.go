package layers

import "fmt"

// ZeroPadding2D is keras.layers.ZeroPadding2D: rows and columns of zeros
// added around an image, as the backbones do before a strided valid
// convolution (MobileNetV2's block_13_pad, ResNet50V2's conv5_block1_2_pad).
type ZeroPadding2D struct {
	Padding [2][2]int // [[top, bottom], [left, right]]
}

func init() { register(func() Layer { return &ZeroPadding2D{Padding: [2][2]int{{1, 1}, {1, 1}}} }) }

func (*ZeroPadding2D) Kind() string       { return "zero_padding2d" }
func (*ZeroPadding2D) KerasClass() string { return "ZeroPadding2D" }

func (z *ZeroPadding2D) Fields() []Field {
	return []Field{{Key: "padding", Doc: "[[top, bottom], [left, right]], [rows, columns] on both sides, or n everywhere", Value: &z.Padding}}
}

func (z *ZeroPadding2D) Check() []Problem {
	for _, p := range z.Padding {
		if p[0] < 0 || p[1] < 0 {
			return []Problem{{"padding", fmt.Sprintf("want numbers >= 0, got %v", z.Padding)}}
		}
	}
	return nil
}

func (z *ZeroPadding2D) Output(in Shape, _ int) (Shape, error) {
	if err := needImage(z.Kind(), in); err != nil {
		return nil, err
	}
	p := z.Padding
	return Shape{in[0] + p[0][0] + p[0][1], in[1] + p[1][0] + p[1][1], in[2]}, nil
}

func (*ZeroPadding2D) Weights(Shape, int) []Weight { return nil }

func (z *ZeroPadding2D) Forward(g Graph, x Tensor, _ Shape, _ []Tensor, _ bool) Tensor {
	return g.Pad(x, z.Padding)
}
