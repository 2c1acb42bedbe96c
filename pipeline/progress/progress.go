// Package progress reports the progress of long stages: a live bar with
// rate and ETA on a terminal (github.com/schollz/progressbar), plain log
// lines every few seconds otherwise (CI logs, files, pipes).
package progress

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Bar tracks one stage. The zero of a nil *Bar is silent.
type Bar struct {
	bar   *progressbar.ProgressBar
	w     io.Writer
	label string
	unit  string
	total int
	done  int
	start time.Time
	last  time.Time
	every time.Duration
}

// New starts a bar for total units of work (e.g. "images") written to w.
// w nil means silent.
func New(w io.Writer, total int, label, unit string) *Bar {
	b := &Bar{w: w, label: label, unit: unit, total: total, start: time.Now(), every: 5 * time.Second}
	b.last = b.start
	if w == nil {
		return b
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
	}
	return b
}

// Add records n more units done.
func (b *Bar) Add(n int) {
	b.done += n
	switch {
	case b.w == nil:
	case b.bar != nil:
		b.bar.Add(n)
	case time.Since(b.last) >= b.every && b.done < b.total:
		b.last = time.Now()
		b.line()
	}
}

// Finish ends the bar and writes a final line.
func (b *Bar) Finish() {
	if b.w == nil {
		return
	}
	if b.bar != nil {
		b.bar.Finish()
	}
	b.line()
}

func (b *Bar) line() {
	el := time.Since(b.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(b.done) / el
	}
	eta := ""
	if rate > 0 && b.done < b.total {
		eta = fmt.Sprintf(", ETA %s", (time.Duration(float64(b.total-b.done)/rate) * time.Second).Round(time.Second))
	}
	fmt.Fprintf(b.w, "%s: %d/%d %s (%.0f%%), %.1f %s/s, %.1fs%s\n",
		b.label, b.done, b.total, b.unit, 100*float64(b.done)/float64(max(b.total, 1)), rate, b.unit, el, eta)
}
