package service

// snapshot returns the reader role's state and how many messages it
// holds.
func (r *reader) snapshot() (readerState, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state, len(r.queue) - r.head
}

// holdsTimer reports whether the reader role holds a timer.
func (r *reader) holdsTimer() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.timer != nil
}
