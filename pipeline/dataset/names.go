package dataset

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// checkClassName refuses a class folder name with a line break or another
// control character: the class names are written one per line (an
// export's labels.txt, CSV files, results.md), and such a name would shift
// every label after it for any program reading them.
func checkClassName(dir, name string) error {
	for _, r := range name {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("dataset %s: class folder %s has a control character (%U) in its name: class names are written one per line (labels.txt, CSV, results.md), so rename the folder",
				dir, strconv.QuoteToASCII(name), r)
		}
	}
	if !strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsSpace(r) }) {
		return fmt.Errorf("dataset %s: class folder %q has a blank name: rename the folder", dir, name)
	}
	return nil
}

// alike groups the class names equal up to case and Unicode
// normalisation (NFKC, then case folding by lower-casing), in name order.
func alike(classes []string) [][]string {
	groups := map[string][]string{}
	var keys []string
	for _, c := range classes {
		k := strings.ToLower(norm.NFKC.String(c))
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], c)
	}
	var out [][]string
	for _, k := range keys {
		if len(groups[k]) > 1 {
			out = append(out, groups[k])
		}
	}
	return out
}

// AlikeHint says what Dataset.Alike means for the user, or "" when there
// are no such classes.
func AlikeHint(groups [][]string) string {
	if len(groups) == 0 {
		return ""
	}
	var parts []string
	for _, g := range groups {
		q := make([]string, len(g))
		for i, c := range g {
			q[i] = strconv.QuoteToASCII(c)
		}
		parts = append(parts, strings.Join(q, " and "))
	}
	return fmt.Sprintf("class folders equal up to case or Unicode normalisation are separate classes: %s; merge them, or leave one out with data.exclude, if they are one class", strings.Join(parts, "; "))
}
