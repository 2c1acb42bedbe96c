// Package num is the pipeline's one home for numbers that may not be
// finite: a diverged model's loss, a validation metric of a run without a
// validation split (NaN), a backbone's broken output. It says what is
// finite and writes such numbers to JSON, which has no NaN or infinities,
// as null.
package num

import (
	"encoding/json"
	"math"
)

// Finite reports whether v is neither NaN nor infinite.
func Finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// AllFinite reports whether every value of x is a finite number.
func AllFinite(x []float32) bool {
	for _, v := range x {
		if v-v != 0 { // NaN or ±Inf
			return false
		}
	}
	return true
}

// Float is a float64 that encodes NaN and infinities as JSON null and
// decodes null as NaN; finite values encode as encoding/json encodes a
// float64. Fields of this type in a struct make the struct's JSON valid
// whatever its numbers are.
type Float float64

// MarshalJSON writes f as encoding/json writes a float64, or null.
func (f Float) MarshalJSON() ([]byte, error) {
	if !Finite(float64(f)) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

// UnmarshalJSON reads a number, or null as NaN.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}
