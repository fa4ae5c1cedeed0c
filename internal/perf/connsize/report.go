package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// tally is a row's live heap: bytes, and objects by size.
type tally struct {
	row    row
	bytes  int64
	bySize map[int64]int64 // objects by their size
	sites  []site
}

// attribute puts each of m's sites under its row, in the rows' order,
// with the sites no row matches last, one tally for each.
func attribute(m *measurement) []*tally {
	byRow := map[rowKey]*tally{}
	var out []*tally
	for _, s := range m.Sites {
		r, ok := rowOf(s.Stack)
		if !ok {
			r = row{group: groupOther, what: shortFunc(firstOwn(s.Stack))}
		}
		t := byRow[r.key()]
		if t == nil {
			t = &tally{row: r, bySize: map[int64]int64{}}
			byRow[r.key()] = t
			out = append(out, t)
		}
		t.bytes += s.Bytes
		if s.Objects != 0 {
			t.bySize[s.Bytes/s.Objects] += s.Objects
		}
		t.sites = append(t.sites, s)
	}
	order := func(t *tally) int {
		for i, r := range rows {
			if r.key() == t.row.key() {
				return i
			}
		}
		return len(rows)
	}
	slices.SortStableFunc(out, func(a, b *tally) int {
		if d := groupOrder(a.row.group) - groupOrder(b.row.group); d != 0 {
			return d
		}
		if d := order(a) - order(b); d != 0 {
			return d
		}
		return int(b.bytes - a.bytes)
	})
	return out
}

// rowKey is what rows are told apart by: rows of the same group and
// description are one row of the table.
type rowKey struct{ group, what string }

func (r row) key() rowKey { return rowKey{r.group, r.what} }

var groups = []string{groupConn, groupKept, groupGorilla, groupRequest, groupSocket, groupRuntime, groupServer, groupOther, groupTool}

func groupOrder(g string) int { return slices.Index(groups, g) }

// firstOwn returns the first frame of stack outside the runtime's
// allocator, the code that allocated.
func firstOwn(stack []string) string {
	for _, f := range stack {
		fn, _, _ := strings.Cut(f, " ")
		if !strings.HasPrefix(fn, "runtime.") && !strings.HasPrefix(fn, "internal/runtime/") {
			return f
		}
	}
	if len(stack) > 0 {
		return stack[len(stack)-1]
	}
	return ""
}

// shortFunc drops a frame's location and its function's package path.
func shortFunc(frame string) string {
	fn, _, _ := strings.Cut(frame, " ")
	return fn[strings.LastIndex(fn, "/")+1:]
}

// result is the report as JSON (-json): the figures of both runs,
// without their sites, and the live heap's rows, in bytes per
// connection.
type result struct {
	Plain, Recorded measurement
	Rows            []resultRow
}

type resultRow struct {
	Group, What string
	Bytes       float64
}

// reportJSON writes the report as one JSON object.
func reportJSON(w io.Writer, plain, rec *measurement) error {
	res := result{Plain: *plain, Recorded: *rec}
	res.Recorded.Sites = nil
	for _, t := range attribute(rec) {
		res.Rows = append(res.Rows, resultRow{Group: t.row.group, What: t.row.what, Bytes: float64(t.bytes) / float64(rec.Conns)})
	}
	return json.NewEncoder(w).Encode(res)
}

// report prints the per-connection figures of plain, the live heap of
// rec by row, and the layout of service.Conn; with sites, every site
// under its row.
func report(w io.Writer, plain, rec *measurement, sites bool) {
	n := float64(plain.Conns)
	per := func(b int64) string { return strconv.FormatFloat(float64(b)/n, 'f', 0, 64) }
	kib := func(b int64) string { return strconv.FormatFloat(float64(b)/n/1024, 'f', 2, 64) }

	fmt.Fprintf(w, "%d idle connections, %.2f goroutines each\n\n", plain.Conns, float64(plain.Goroutines)/n)
	fmt.Fprintln(w, "| per connection | B | KiB |")
	fmt.Fprintln(w, "|---|---|---|")
	lines := []struct {
		what string
		b    int64
	}{
		{"live heap (HeapAlloc)", plain.HeapAlloc},
		{"free slots in the live heap's spans (HeapInuse - HeapAlloc)", plain.HeapInuse - plain.HeapAlloc},
		{"garbage not yet collected, and freed heap kept (the heap held as found, less HeapInuse after collecting)", plain.HeapHeld - plain.HeapInuse},
		{"goroutine stacks (StackInuse)", plain.StackInuse},
		{"span descriptors (MSpanSys)", plain.MSpanSys},
		{"the collector's metadata (GCSys)", plain.GCSys},
		{"the runtime's other memory, the poller's descriptors among it (OtherSys)", plain.OtherSys},
	}
	var sum int64
	for _, l := range lines {
		fmt.Fprintf(w, "| %s | %s | %s |\n", l.what, per(l.b), kib(l.b))
		sum += l.b
	}
	fmt.Fprintf(w, "| **sum** | **%s** | **%s** |\n", per(sum), kib(sum))
	fmt.Fprintf(w, "| resident growth (VmRSS) | %s | %s |\n", per(plain.RSS), kib(plain.RSS))
	fmt.Fprintf(w, "| allocated while connecting, garbage included (TotalAlloc; %.1f objects) | %s | %s |\n\n",
		float64(plain.Mallocs)/n, per(plain.TotalAlloc), kib(plain.TotalAlloc))

	tallies := attribute(rec)
	fmt.Fprintln(w, "| live heap, per connection | objects × bytes | B |")
	fmt.Fprintln(w, "|---|---|---|")
	var total, tool int64
	group := ""
	var groupSum int64
	flush := func() {
		if group != "" {
			fmt.Fprintf(w, "| *%s, in all* | | *%s* |\n", group, per(groupSum))
		}
	}
	var small int64 // other sites under 1 B per connection each
	for _, t := range tallies {
		if t.row.group == groupTool {
			tool += t.bytes
			continue
		}
		if t.row.group == groupOther && float64(abs64(t.bytes))/n < 1 {
			small += t.bytes
			total += t.bytes
			continue
		}
		if t.row.group != group {
			flush()
			group, groupSum = t.row.group, 0
			fmt.Fprintf(w, "| **%s** | | |\n", group)
		}
		groupSum += t.bytes
		total += t.bytes
		fmt.Fprintf(w, "| %s | %s | %s |\n", t.row.what, objects(t.bySize, n), per(t.bytes))
	}
	if small != 0 {
		if group != groupOther {
			flush()
			group, groupSum = groupOther, 0
			fmt.Fprintf(w, "| **%s** | | |\n", group)
		}
		groupSum += small
		fmt.Fprintf(w, "| sites under 1 B each | | %s |\n", per(small))
	}
	flush()
	fmt.Fprintf(w, "| **live heap, the rows' sum** | | **%s** |\n", per(total))
	fmt.Fprintf(w, "| live heap measured while recording (HeapAlloc, less this program's records, %s B) | | %s |\n",
		per(tool), per(rec.HeapAlloc-tool))
	fmt.Fprintf(w, "| live heap measured without recording | | %s |\n\n", per(plain.HeapAlloc))

	fmt.Fprintln(w, "| garbage per connection, by the code that allocated it (the 12 largest) | B |")
	fmt.Fprintln(w, "|---|---|")
	garbage := map[string]int64{}
	var allGarbage int64
	for _, s := range rec.Sites {
		if g := s.Allocated - s.Bytes; g > 0 && !toolSite(s.Stack) {
			garbage[garbageKey(s.Stack)] += g
			allGarbage += g
		}
	}
	keys := slices.SortedFunc(maps.Keys(garbage), func(a, b string) int { return int(garbage[b] - garbage[a]) })
	for _, k := range keys[:min(12, len(keys))] {
		fmt.Fprintf(w, "| %s | %s |\n", k, per(garbage[k]))
	}
	fmt.Fprintf(w, "| **in all** | **%s** |\n\n", per(allGarbage))

	for _, t := range layouts() {
		fmt.Fprintf(w, "%s: %d B\n\n", t, t.Size())
		fmt.Fprintln(w, "| field | type | B |")
		fmt.Fprintln(w, "|---|---|---|")
		for _, f := range layout(t) {
			fmt.Fprintf(w, "| %s | %s | %d |\n", f.name, f.typ, f.size)
		}
		fmt.Fprintln(w)
	}

	if !sites {
		return
	}
	for _, t := range tallies {
		fmt.Fprintf(w, "\n%s: %s: %s B\n", t.row.group, t.row.what, per(t.bytes))
		slices.SortFunc(t.sites, func(a, b site) int { return int(b.Bytes - a.Bytes) })
		for _, s := range t.sites {
			fmt.Fprintf(w, "  %8.1f B %6.2f objects\n", float64(s.Bytes)/n, float64(s.Objects)/n)
			for _, f := range s.Stack {
				fmt.Fprintf(w, "      %s\n", f)
			}
		}
	}
}

// toolSite reports whether a stack is this program's own.
func toolSite(stack []string) bool {
	r, ok := rowOf(stack)
	return ok && r.group == groupTool
}

// garbageKey names the code that allocated: the first frame outside the
// runtime and the standard library's helpers, with its caller.
func garbageKey(stack []string) string {
	for i, f := range stack {
		fn, _, _ := strings.Cut(f, " ")
		if strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/") || strings.HasPrefix(fn, "bufio.") ||
			strings.HasPrefix(fn, "bytes.") || strings.HasPrefix(fn, "strings.") || strings.HasPrefix(fn, "sync.") {
			continue
		}
		key := shortFunc(f)
		if i > 0 {
			key = shortFunc(stack[i-1]) + " in " + key
		}
		return key
	}
	return shortFunc(firstOwn(stack))
}

// objects writes a row's objects per connection by size, the largest
// first: "1 × 704, 3 × 16".
func objects(bySize map[int64]int64, n float64) string {
	var parts []string
	for _, size := range slices.Backward(slices.Sorted(maps.Keys(bySize))) {
		c := float64(bySize[size]) / n
		if c < 0.005 {
			continue
		}
		count := strconv.FormatFloat(c, 'f', 2, 64)
		if r := float64(int(c + 0.5)); c > 0.97 && abs(c-r) < 0.03 {
			count = strconv.Itoa(int(r))
		}
		parts = append(parts, count+" × "+strconv.FormatInt(size, 10))
	}
	return strings.Join(parts, ", ")
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
