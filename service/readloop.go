package service

// loop is the read loop, the goroutine that holds the reader role in the
// states where the connection reads ahead (see reader). It does what
// each message's row says: reads it whole into the queue, hands its
// stream to a Reader, drops it while draining or refuses it after
// CloseRead; it waits while the queue is full or a stream is out. It
// returns when reading ends, or when it hands the role to a direct
// receiver.
func (r *reader) loop() {
	c := r.c
	for {
		typ, rd, err := c.nextReader()
		if err != nil {
			c.endRead(err)
			return
		}
		mr := &messageReader{c: c, typ: typ, r: rd}
		do := r.messageStarts(mr)
		switch {
		case do&aDiscard != 0:
			if err := mr.discard(); err != nil {
				c.endRead(err)
				return
			}
			continue
		case do&aRefuse != 0:
			c.fail(noReadClose())
			continue // the next read fails on the closed connection
		case do&aHandStream != 0:
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
		do = r.whole(mr.typ, data)
		switch {
		case do&aLoopExit != 0:
			return
		case do&aRefuse != 0:
			c.fail(noReadClose())
		case do&aLoopWait != 0:
			for r.full() {
				<-r.space
			}
		}
	}
}

// waitStream waits for the consumer of a stream to finish with it, and
// returns gorilla's error if reading it failed.
func (r *reader) waitStream(mr *messageReader) error {
	select {
	case <-mr.done: // the consumer's finish moved the role on
	case <-r.c.ctx.Done(): // the connection is closing
		mr.release()
	}
	return mr.gorillaErr
}
