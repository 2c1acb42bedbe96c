package images

import "image"

// Go's image/jpeg leaves colour JPEGs as YCbCr with subsampled chroma and
// Go would convert them by repeating each chroma sample and with its own
// rounding. PIL uses libjpeg(-turbo), which interpolates the chroma
// ("fancy upsampling", jdsample.c) and converts with fixed tables
// (jdcolor.c). The functions here do the same, so that colour JPEGs come
// out as PIL gives them up to small differences of the inverse DCT.

// libjpeg's fixed-point YCbCr to RGB tables (jdcolor.c, build_ycc_rgb_table),
// indexed by the Cb or Cr sample.
var crR, cbB, crG, cbG = yccTables()

// yccTables computes the tables as libjpeg does, in 16-bit fixed point.
func yccTables() (crR, cbB, crG, cbG [256]int32) {
	const (
		scale = 16
		half  = 1 << (scale - 1)
	)
	fix := func(v float64) int32 { return int32(v*(1<<scale) + 0.5) }
	for i := range 256 {
		x := int32(i) - 128
		crR[i] = (fix(1.40200)*x + half) >> scale
		cbB[i] = (fix(1.77200)*x + half) >> scale
		crG[i] = -fix(0.71414) * x
		cbG[i] = -fix(0.34414)*x + half
	}
	return
}

// ycc converts one YCbCr sample to RGB as libjpeg does.
func ycc(y, cb, cr uint8) (uint8, uint8, uint8) {
	yy := int32(y)
	return clamp8(yy + crR[cr]), clamp8(yy + (cbG[cb]+crG[cr])>>16), clamp8(yy + cbB[cb])
}

// clamp8 limits v to 0..255, like libjpeg's range_limit.
func clamp8(v int32) uint8 {
	return uint8(min(max(v, 0), 255))
}

// ycbcrAt returns a function giving the RGB colour at (x, y) of m,
// upsampling the chroma as libjpeg does for the 4:2:0, 4:2:2 and 4:4:0
// layouts (libjpeg repeats samples instead when the chroma is at most 2
// samples wide). Other layouts, and images not at the origin, repeat the
// chroma samples.
func ycbcrAt(m *image.YCbCr) func(x, y int) (uint8, uint8, uint8) {
	plain := func(x, y int) (uint8, uint8, uint8) {
		ci := m.COffset(x, y)
		return ycc(m.Y[m.YOffset(x, y)], m.Cb[ci], m.Cr[ci])
	}
	if m.Rect.Min != (image.Point{}) {
		return plain
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	cw, ch := (w+1)/2, (h+1)/2 // libjpeg's downsampled_width and _height
	// near returns the nearer and the farther chroma index for output
	// position p: the farther one is on the side of p within its pair,
	// clamped to the edge, as libjpeg replicates edge samples.
	near := func(p, n int) (int, int) {
		i := p / 2
		if p%2 == 0 {
			return i, max(i-1, 0)
		}
		return i, min(i+1, n-1)
	}
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio420:
		if cw <= 2 {
			return plain
		}
		return func(x, y int) (uint8, uint8, uint8) {
			j, j2 := near(x, cw)
			r, r2 := near(y, ch)
			bias := 8 - x%2
			o, o2 := r*m.CStride, r2*m.CStride
			// Sum each column vertically (3:1), then horizontally (3:1).
			up := func(p []uint8) uint8 {
				s := 3*int(p[o+j]) + int(p[o2+j])
				s2 := 3*int(p[o+j2]) + int(p[o2+j2])
				return uint8((3*s + s2 + bias) >> 4)
			}
			return ycc(m.Y[y*m.YStride+x], up(m.Cb), up(m.Cr))
		}
	case image.YCbCrSubsampleRatio422:
		if cw <= 2 {
			return plain
		}
		return func(x, y int) (uint8, uint8, uint8) {
			j, j2 := near(x, cw)
			bias := 1 + x%2
			o := y * m.CStride
			up := func(p []uint8) uint8 {
				return uint8((3*int(p[o+j]) + int(p[o+j2]) + bias) >> 2)
			}
			return ycc(m.Y[y*m.YStride+x], up(m.Cb), up(m.Cr))
		}
	case image.YCbCrSubsampleRatio440:
		return func(x, y int) (uint8, uint8, uint8) {
			r, r2 := near(y, ch)
			bias := 1 + y%2
			o, o2 := r*m.CStride+x, r2*m.CStride+x
			up := func(p []uint8) uint8 {
				return uint8((3*int(p[o]) + int(p[o2]) + bias) >> 2)
			}
			return ycc(m.Y[y*m.YStride+x], up(m.Cb), up(m.Cr))
		}
	}
	return plain
}
