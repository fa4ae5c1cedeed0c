// Command benchratio reads `go test -bench -count N` output on standard
// input and prints, as a Markdown table, each wsmap benchmark beside its
// reference measured in the same run: for every benchmark named
// ".../NAME" (NAME given by -name, wsmap unless said) with a sibling
// ".../REF" (REF given by -ref), the median of
// a metric (ns/op unless -metric names another a benchmark reports, such
// as cpu-ns/delivery) for each, the ratio of the medians, the range of
// the per-round ratios, and allocations per op.
//
// Usage:
//
//	go test -run XXX -bench Lookup -count 6 ./mux | go run ./internal/benchratio -ref chi
//	go test -run XXX -bench Broadcast -count 6 ./room | go run ./internal/benchratio -ref melody -metric cpu-ns/delivery
//	go test -run XXX -bench Broadcast -count 6 ./room/natstransport | go run ./internal/benchratio -name nats -ref local -metric deliveries/s
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

// line matches a result line: name, iterations, then value-unit pairs.
var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

type series struct {
	values []float64
	allocs string
}

func main() {
	ref := flag.String("ref", "chi", "last name element of the reference benchmarks")
	metric := flag.String("metric", "ns/op", "the unit of the metric to compare")
	name := flag.String("name", "wsmap", "last name element of the benchmarks compared with the references")
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, *name, *ref, *metric); err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, name, ref, metric string) error {
	data := map[string]*series{}
	var order []string
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		fields := strings.Fields(m[2])
		value, allocs, found := 0.0, "", false
		for i := 0; i+1 < len(fields); i += 2 {
			switch fields[i+1] {
			case metric:
				v, err := strconv.ParseFloat(fields[i], 64)
				if err != nil {
					return fmt.Errorf("%s: %s: %w", m[1], metric, err)
				}
				value, found = v, true
			case "allocs/op":
				allocs = fields[i]
			}
		}
		if !found {
			continue
		}
		s := data[m[1]]
		if s == nil {
			s = &series{}
			data[m[1]] = s
			order = append(order, m[1])
		}
		s.values = append(s.values, value)
		s.allocs = allocs
	}
	if err := sc.Err(); err != nil {
		return err
	}
	fmt.Fprintf(out, "| benchmark | %s %s | %s %s | ratio | range | %s allocs | %s allocs |\n", name, metric, ref, metric, name, ref)
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|")
	for _, bench := range order {
		base, ok := strings.CutSuffix(bench, "/"+name)
		if !ok {
			continue
		}
		w, r := data[bench], data[base+"/"+ref]
		if r == nil {
			continue
		}
		n := min(len(w.values), len(r.values))
		if n == 0 {
			continue
		}
		lo, hi := w.values[0]/r.values[0], w.values[0]/r.values[0]
		for i := range n {
			q := w.values[i] / r.values[i]
			lo, hi = min(lo, q), max(hi, q)
		}
		mw, mr := median(w.values[:n]), median(r.values[:n])
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
