// Package reported marks a handler's error that a layer has already
// reported (logged, or given to a hook), so that the connection's runner
// does not log it a second time when no hook of its own is set.
package reported

import "errors"

// reportedError wraps an error that was reported; its text and its chain are the
// wrapped error's.
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

// Mark returns err marked as reported; nil stays nil.
func Mark(err error) error {
	if err == nil || Is(err) {
		return err
	}
	return &reportedError{err: err}
}

// Is reports whether err, or an error it wraps, was marked by Mark.
func Is(err error) bool {
	var r *reportedError
	return errors.As(err, &r)
}
