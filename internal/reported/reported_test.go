package reported

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestMark(t *testing.T) {
	if Mark(nil) != nil {
		t.Error("Mark(nil) is not nil")
	}
	err := fmt.Errorf("handler: %w", io.ErrUnexpectedEOF)
	m := Mark(err)
	if !Is(m) || Is(err) {
		t.Errorf("Is(Mark(err)) = %v, Is(err) = %v; want true, false", Is(m), Is(err))
	}
	if m.Error() != err.Error() || !errors.Is(m, io.ErrUnexpectedEOF) {
		t.Errorf("marked error %q does not read as %q, or lost its chain", m, err)
	}
	if Mark(m) != m {
		t.Error("marking twice wrapped twice")
	}
	if w := fmt.Errorf("outer: %w", m); !Is(w) {
		t.Error("a marked error wrapped again is not seen as reported")
	}
}
