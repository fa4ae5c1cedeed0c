// Command benchratio reads `go test -bench -count N` output on standard
// input and prints, as a Markdown table, each wsmap benchmark beside its
// reference measured in the same run: for every benchmark named
// ".../wsmap" with a sibling ".../REF" (REF given by -ref), the median
// ns/op of each, the ratio of the medians, the range of the per-round
// ratios, and allocations per op.
//
// Usage:
//
//	go test -run XXX -bench Lookup -count 6 ./mux | go run ./internal/benchratio -ref chi
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:.*?\s(\d+) allocs/op)?`)

type series struct {
	ns     []float64
	allocs string
}

func main() {
	ref := flag.String("ref", "chi", "last name element of the reference benchmarks")
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, *ref); err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, ref string) error {
	data := map[string]*series{}
	var order []string
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ns, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return err
		}
		s := data[m[1]]
		if s == nil {
			s = &series{}
			data[m[1]] = s
			order = append(order, m[1])
		}
		s.ns = append(s.ns, ns)
		s.allocs = m[3]
	}
	if err := sc.Err(); err != nil {
		return err
	}
	fmt.Fprintf(out, "| benchmark | wsmap ns/op | %s ns/op | ratio | range | wsmap allocs | %s allocs |\n", ref, ref)
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|")
	for _, name := range order {
		base, ok := strings.CutSuffix(name, "/wsmap")
		if !ok {
			continue
		}
		w, r := data[name], data[base+"/"+ref]
		if r == nil {
			continue
		}
		n := min(len(w.ns), len(r.ns))
		if n == 0 {
			continue
		}
		lo, hi := w.ns[0]/r.ns[0], w.ns[0]/r.ns[0]
		for i := range n {
			q := w.ns[i] / r.ns[i]
			lo, hi = min(lo, q), max(hi, q)
		}
		mw, mr := median(w.ns[:n]), median(r.ns[:n])
		fmt.Fprintf(out, "| %s | %.0f | %.0f | %.2f× | %.2f–%.2f | %s | %s |\n",
			strings.TrimPrefix(base, "Benchmark"), mw, mr, mw/mr, lo, hi, w.allocs, r.allocs)
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
