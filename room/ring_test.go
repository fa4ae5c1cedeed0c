package room

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/prepared"
	"github.com/wsmap/wsmap/protocol"
)

// ringStep is what TestRingKeeps does to a ring: add the next
// add offsets at the clock's time, then move the clock on by wait and
// let the ring forget what is then too old.
type ringStep struct {
	add  int
	wait time.Duration
}

// TestRingKeeps: a ring keeps its newest records, at most Size of them
// and none older than MaxAge, through growing, wrapping around and
// ageing out in any order.
func TestRingKeeps(t *testing.T) {
	t.Parallel()
	const age = time.Minute
	tests := []struct {
		name  string
		size  int
		steps []ringStep
		want  []uint64 // the offsets kept at the end
	}{
		{"growing", 10, []ringStep{{add: 3}}, []uint64{1, 2, 3}},
		{"full", 3, []ringStep{{add: 3}}, []uint64{1, 2, 3}},
		{"wrapped around", 3, []ringStep{{add: 5}}, []uint64{3, 4, 5}},
		{"aged out in part while growing", 10, []ringStep{{add: 3, wait: age * 2 / 3}, {add: 2, wait: age * 2 / 3}, {add: 1}}, []uint64{4, 5, 6}},
		{"not yet aged out", 10, []ringStep{{add: 3, wait: age}}, []uint64{1, 2, 3}},
		{"aged out while growing", 10, []ringStep{{add: 3, wait: 2 * age}}, nil},
		{"grown again after ageing out while growing", 10, []ringStep{{add: 3, wait: 2 * age}, {add: 5}}, []uint64{4, 5, 6, 7, 8}},
		{"grown again and aged out in part", 10, []ringStep{{add: 3, wait: 2 * age}, {add: 2, wait: age * 2 / 3}, {add: 2, wait: age * 2 / 3}, {add: 1}}, []uint64{6, 7, 8}},
		{"grown again after ageing out while full", 3, []ringStep{{add: 5, wait: 2 * age}, {add: 2}}, []uint64{6, 7}},
		{"wrapped around after ageing out while growing", 4, []ringStep{{add: 3, wait: 2 * age}, {add: 6}}, []uint64{6, 7, 8, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newRing(&History{Size: tt.size, MaxAge: age}, "e")
			now := time.Unix(1e9, 0)
			h.now = func() time.Time { return now }
			offsets := make(map[*prepared.Message]uint64)
			var head uint64
			for _, s := range tt.steps {
				for range s.add {
					head++
					pm, err := prepared.New(protocol.Text, []byte(strconv.FormatUint(head, 10)))
					if err != nil {
						t.Fatal(err)
					}
					offsets[pm] = head
					h.add(head, pm, nil)
				}
				now = now.Add(s.wait)
				h.expire()
			}

			// What a member that has every message up to the oldest
			// kept one reads (none of them its own).
			var got []uint64
			if first, ok := h.oldest(); ok {
				pms, n, ok := h.after(first-1, head, int(head), &Member{}, nil)
				if !ok || n != len(pms) {
					t.Fatalf("after(%d): %d records, %d messages, kept %v", first-1, n, len(pms), ok)
				}
				got = append(got, first)
				for _, pm := range pms[1:] {
					got = append(got, offsets[pm])
				}
				if offsets[pms[0]] != first {
					t.Errorf("the oldest record is at offset %d, its message at %d", first, offsets[pms[0]])
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("offsets kept (-want +got):\n%s", diff)
			}
			for off := uint64(1); off <= head; off++ {
				want := len(tt.want) > 0 && tt.want[0] <= off
				if got := h.has(h.epoch, off); got != want {
					t.Errorf("has(%d) = %v, want %v", off, got, want)
				}
			}
		})
	}
}
