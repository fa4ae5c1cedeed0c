package service

import "github.com/wsmap/wsmap/protocol"

// loop is the read loop, the goroutine that holds the reader role in the
// loop, full and stream states (see reader). It reads messages whole into
// the queue, hands streams to Reader calls, discards messages while
// closing, and waits while the queue is full. It returns when reading
// ends, or when it hands the role to a direct receiver.
func (r *reader) loop() {
	c := r.c
	for {
		typ, rd, err := c.nextReader()
		if err != nil {
			c.endRead(err)
			return
		}
		mr := &messageReader{c: c, typ: protocol.MessageType(typ), r: rd}
		switch r.messageStarts(mr) {
		case discard:
			if err := mr.discard(); err != nil {
				c.endRead(err)
				return
			}
			continue
		case refuseData:
			c.fail(noReadClose())
			continue // the next read fails on the closed connection
		case handStream:
			if err := r.waitStream(mr); err != nil {
				c.endRead(err)
				return
			}
			continue
		}
		data, err := mr.readAll(nil)
		if mr.gorillaErr != nil {
			c.endRead(mr.gorillaErr)
			return
		}
		if err != nil {
			continue // refused and closing: the loop reads on for the peer's close
		}
		goOn, full := r.queueMessage(mr.typ, data)
		if !goOn {
			return // the role was handed over
		}
		if full {
			r.waitSpace()
		}
	}
}

// waitSpace waits, in the full state, until a message is taken or the
// connection closes.
func (r *reader) waitSpace() {
	for {
		<-r.space
		if r.spaceOrClosing() {
			return
		}
	}
}

// waitStream waits for the consumer of a stream to finish with it, and
// returns gorilla's error if reading it failed.
func (r *reader) waitStream(mr *messageReader) error {
	select {
	case <-mr.done:
	case <-r.c.closing:
		mr.release()
	}
	r.streamDone(mr)
	return mr.gorillaErr
}
