// Package sweep tries many configurations of one experiment in one
// process: a grid of values of any keys `-set` takes, or random draws
// from it, each trial a normal run folder (experiment.Sweep shares the
// data, backbones, cached features and inspection between them), then one
// table of the trials sorted by their validation metric and a plot of
// that metric against each swept key.
package sweep

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Entry is one -grid flag: a key and the values it takes (Values), or,
// for random draws, a range (Lo..Hi, drawn on a log scale when Log).
type Entry struct {
	Flag   string // the flag as given, "KEY=V1,V2", which errors name
	Key    string
	Values []string
	// A range, KEY=LO..HI or KEY=LO..HI:log (random draws only).
	Range  bool
	Lo, Hi float64
	Log    bool
	Int    bool // both bounds are integers: draws are integers
}

// Label is how config errors name a value of e: "-grid " and the flag.
func (e Entry) Label() string { return "-grid " + e.Flag }

// ParseEntry parses one -grid flag: KEY=V1,V2,... (values split at commas
// outside brackets and quotes, so a YAML list such as [128,128] is one
// value), or KEY=LO..HI[:log], a range for -random.
func ParseEntry(flag string) (Entry, error) {
	e := Entry{Flag: flag}
	key, text, ok := strings.Cut(flag, "=")
	if !ok || strings.TrimSpace(key) == "" {
		return e, fmt.Errorf("-grid %s: want KEY=V1,V2,... (a key -set takes, and its values)", flag)
	}
	e.Key = strings.TrimSpace(key)
	if lo, hi, ok := strings.Cut(text, ".."); ok && !strings.ContainsAny(text, "[]{},'\"") {
		return parseRange(e, lo, hi)
	}
	vals, err := splitValues(text)
	if err != nil {
		return e, fmt.Errorf("-grid %s: %w", flag, err)
	}
	seen := map[string]bool{}
	for _, v := range vals {
		if seen[v] {
			return e, fmt.Errorf("-grid %s: value %q given twice", flag, v)
		}
		seen[v] = true
	}
	e.Values = vals
	return e, nil
}

// parseRange parses LO..HI[:log] into e.
func parseRange(e Entry, lo, hi string) (Entry, error) {
	hi, e.Log = strings.CutSuffix(hi, ":log")
	var err1, err2 error
	e.Lo, err1 = strconv.ParseFloat(strings.TrimSpace(lo), 64)
	e.Hi, err2 = strconv.ParseFloat(strings.TrimSpace(hi), 64)
	switch {
	case err1 != nil || err2 != nil || math.IsNaN(e.Lo) || math.IsNaN(e.Hi) || math.IsInf(e.Lo, 0) || math.IsInf(e.Hi, 0):
		return e, fmt.Errorf("-grid %s: a range is LO..HI or LO..HI:log with numbers, such as 1e-4..1e-1:log", e.Flag)
	case e.Lo >= e.Hi:
		return e, fmt.Errorf("-grid %s: the range's low end %g is not below its high end %g", e.Flag, e.Lo, e.Hi)
	case e.Log && e.Lo <= 0:
		return e, fmt.Errorf("-grid %s: a log range needs a positive low end, got %g", e.Flag, e.Lo)
	}
	_, errLo := strconv.Atoi(strings.TrimSpace(lo))
	_, errHi := strconv.Atoi(strings.TrimSpace(hi))
	e.Int, e.Range = errLo == nil && errHi == nil, true
	return e, nil
}

// splitValues splits text at the commas outside brackets, braces and
// quotes; every value must be non-empty.
func splitValues(text string) ([]string, error) {
	var out []string
	depth, quote, start := 0, rune(0), 0
	for i, c := range text {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(text[start:i]))
			start = i + 1
		}
	}
	out = append(out, strings.TrimSpace(text[start:]))
	if depth != 0 || quote != 0 {
		return nil, errors.New("unbalanced brackets or quotes")
	}
	for _, v := range out {
		if v == "" {
			return nil, errors.New("an empty value: want V1,V2,... with a value between each comma")
		}
	}
	return out, nil
}

// Point is one trial's values: entry i's value is Values[i].
type Point struct {
	Values []string
}

// Grid is every combination of the entries' values, the first entry's
// changing slowest. A range has no grid: it needs random draws.
func Grid(entries []Entry) ([]Point, error) {
	if len(entries) == 0 {
		return nil, errors.New("no -grid: give at least one -grid KEY=V1,V2,... flag")
	}
	points := []Point{{}}
	for _, e := range entries {
		if e.Range {
			return nil, fmt.Errorf("-grid %s: a range needs -random N (a grid takes listed values)", e.Flag)
		}
		var next []Point
		for _, p := range points {
			for _, v := range e.Values {
				next = append(next, Point{Values: append(append([]string(nil), p.Values...), v)})
			}
		}
		points = next
	}
	return points, nil
}

// Random draws n distinct points, seeded: a listed entry's value
// uniformly from its values, a range's uniformly between its ends (on a
// log scale for :log), rounded to 3 significant digits (integers for an
// integer range). More draws than the distinct points the entries allow
// is an error.
func Random(entries []Entry, n int, seed int64) ([]Point, error) {
	switch {
	case n < 1:
		return nil, fmt.Errorf("-random %d: want at least 1 draw", n)
	case len(entries) == 0:
		return nil, errors.New("-random without a range: give -grid KEY=LO..HI[:log] or -grid KEY=V1,V2,... to draw from")
	}
	total := 1.0
	for _, e := range entries {
		switch {
		case e.Range && e.Int:
			total *= e.Hi - e.Lo + 1
		case e.Range:
			total = math.Inf(1)
		default:
			total *= float64(len(e.Values))
		}
	}
	if float64(n) > total {
		return nil, fmt.Errorf("-random %d: the -grid entries allow only %.0f distinct trials", n, total)
	}
	r := rand.New(rand.NewPCG(uint64(seed), 0x5eeb))
	seen := map[string]bool{}
	var out []Point
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000*n {
			return nil, fmt.Errorf("-random %d: found only %d distinct trials in %d draws; widen the ranges", n, len(out), tries)
		}
		p := Point{}
		for _, e := range entries {
			p.Values = append(p.Values, draw(r, e))
		}
		k := strings.Join(p.Values, "\x00")
		if !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// draw draws one value of e.
func draw(r *rand.Rand, e Entry) string {
	if !e.Range {
		return e.Values[r.IntN(len(e.Values))]
	}
	if e.Int {
		return strconv.Itoa(int(e.Lo) + r.IntN(int(e.Hi-e.Lo)+1))
	}
	v := e.Lo + r.Float64()*(e.Hi-e.Lo)
	if e.Log {
		v = math.Exp(math.Log(e.Lo) + r.Float64()*(math.Log(e.Hi)-math.Log(e.Lo)))
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
