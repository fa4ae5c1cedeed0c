package message

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"

	"github.com/wsmap/wsmap/service"
)

// Peer is one end of a connection at the message level: it reads the
// peer's messages (Serve), hands its calls and notifications to a
// Handler, and makes calls to it (Call, Notify), correlating each answer
// with its call by ID. The same Peer serves either end of a connection,
// a server's handler or a Dial'ed client.
//
// Serve must run for anything to be received, answers to Call included.
// Call, Notify and Send are safe to call from any goroutine, handlers
// included.
type Peer struct {
	c     *service.Conn
	codec Codec
	h     Handler
	opts  Options

	slots chan struct{} // a token per call of this side in flight
	done  chan struct{} // closed when Serve has ended
	jobs  sync.WaitGroup

	mu      sync.Mutex
	seq     uint64
	pending map[string]chan Message // this side's calls, by ID
	running int                     // goroutines handling the peer's calls
	queue   []job                   // the peer's calls waiting their turn
	served  bool
	ended   error // why Serve ended
}

// job is a frame's worth of the peer's calls and notifications, handled
// in order and answered together if they came as a batch.
type job struct {
	msgs  []Message
	batch bool
}

// New returns a Peer for c speaking codec, whose incoming calls and
// notifications h serves (with a nil h every call is answered as
// ErrUnknownMethod). Call Serve to start reading.
func New(c *service.Conn, codec Codec, h Handler, opts *Options) *Peer {
	o := opts.withDefaults()
	return &Peer{
		c:       c,
		codec:   codec,
		h:       h,
		opts:    o,
		slots:   make(chan struct{}, o.MaxOutgoing),
		done:    make(chan struct{}),
		pending: make(map[string]chan Message),
	}
}

// Conn returns the connection the Peer speaks on.
func (p *Peer) Conn() *service.Conn { return p.c }

// Codec returns the codec the Peer speaks, as New was given it.
func (p *Peer) Codec() Codec { return p.codec }

// errServedTwice is Serve's error when it is already running.
var errServedTwice = errors.New("message: Serve called twice")

// Serve reads and handles the peer's messages until the connection ends
// or ctx does, and returns why: the connection's close (an error from
// which service.CloseStatus reads the code) or ctx's error. Handlers get
// a context derived from ctx, cancelled when Serve returns; Serve waits
// for them to return. Calls still waiting for an answer then fail with
// the same error. To end it with a close of its own (a protocol's 44xx),
// a handler closes the connection, p.Conn().Close(code, reason), and
// Serve returns that close. Serve is called once, typically as the last
// statement of a connection handler:
//
//	return message.New(c, ocppj.V16, router, nil).Serve(ctx)
func (p *Peer) Serve(ctx context.Context) error {
	p.mu.Lock()
	if p.served {
		p.mu.Unlock()
		return errServedTwice
	}
	p.served = true
	p.mu.Unlock()
	jctx, cancel := context.WithCancel(ctx)
	err := p.read(ctx, jctx)
	p.mu.Lock()
	p.ended = err
	p.pending = nil
	p.queue = nil
	p.mu.Unlock()
	close(p.done)
	cancel()
	p.jobs.Wait()
	return err
}

// read is Serve's loop; it returns why reading ended.
func (p *Peer) read(ctx, jctx context.Context) error {
	for {
		typ, data, err := p.c.Recv(ctx)
		if err != nil {
			return err
		}
		msgs, batch, err := p.codec.Decode(typ, data)
		if err != nil {
			p.c.CloseWithError(err)
			return err
		}
		p.receive(jctx, msgs, batch)
	}
}

// receive sorts a frame's messages: answers go to their calls, calls and
// notifications to a handler, in order.
func (p *Peer) receive(ctx context.Context, msgs []Message, batch bool) {
	var requests []Message
	for _, m := range msgs {
		switch {
		case m.Bad != nil && m.Kind != KindCall && m.Kind != 0:
			// A malformed answer or notification: the protocol
			// answers neither.
			p.report(fmt.Errorf("message: unusable %s from the peer: %w", m.Kind, m.Bad), false)
		case m.Kind == KindResult || m.Kind == KindError:
			p.deliver(m)
		default:
			requests = append(requests, m)
		}
	}
	if len(requests) > 0 {
		p.enqueue(ctx, job{msgs: requests, batch: batch})
	}
}

// deliver hands an answer to the call waiting for it.
func (p *Peer) deliver(m Message) {
	p.mu.Lock()
	ch, ok := p.pending[m.ID]
	delete(p.pending, m.ID)
	p.mu.Unlock()
	if !ok {
		p.report(fmt.Errorf("%w: %s with ID %s", ErrUnexpectedAnswer, m.Kind, m.ID), false)
		return
	}
	ch <- m
}

// enqueue starts a goroutine for j, or queues it behind the ones running
// if MaxIncoming are, or refuses it if MaxQueued wait already.
func (p *Peer) enqueue(ctx context.Context, j job) {
	p.mu.Lock()
	switch {
	case p.running < p.opts.MaxIncoming:
		p.running++
		p.jobs.Add(1)
		p.mu.Unlock()
		go p.work(ctx, j)
		return
	case len(p.queue) < p.opts.MaxQueued:
		p.queue = append(p.queue, j)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	var answers []Message
	for _, m := range j.msgs {
		if m.Kind == KindCall || m.Bad != nil {
			answers = append(answers, p.errorAnswer(m.ID, ErrBusy))
		}
	}
	p.report(fmt.Errorf("message: %d calls refused: %w", len(j.msgs), ErrBusy), false)
	p.send(answers, j.batch)
}

// work handles j, then the jobs queued meanwhile, until none is left.
func (p *Peer) work(ctx context.Context, j job) {
	defer p.jobs.Done()
	for {
		p.run(ctx, j)
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.running--
			p.mu.Unlock()
			return
		}
		j = p.queue[0]
		p.queue[0] = job{}
		p.queue = p.queue[1:]
		p.mu.Unlock()
	}
}

// run handles a job's messages in order and sends their answers.
func (p *Peer) run(ctx context.Context, j job) {
	answers := make([]Message, 0, len(j.msgs))
	for _, m := range j.msgs {
		if ctx.Err() != nil {
			return // the connection ended: nobody to answer
		}
		if a, ok := p.handle(ctx, m); ok {
			answers = append(answers, a)
		}
	}
	p.send(answers, j.batch)
}

// handle serves one call or notification, and returns its answer, if it
// has one.
func (p *Peer) handle(ctx context.Context, m Message) (Message, bool) {
	if m.Bad != nil {
		p.report(fmt.Errorf("message: unusable message from the peer: %w", m.Bad), false)
		return p.errorAnswer(m.ID, m.Bad), true
	}
	req := &Request{Peer: p, Method: m.Method, ID: m.ID, Params: m.Payload}
	hctx, end := p.onCall(ctx, CallInfo{Kind: m.Kind, Method: m.Method, ID: m.ID})
	result, err := p.invoke(context.WithValue(hctx, requestKey{}, req), req)
	if ctx.Err() != nil {
		if end != nil {
			end(CallEnd{Err: context.Cause(ctx)})
		}
		return Message{}, false // the connection ended: nobody to answer
	}
	a, ok, err := p.answer(m, result, err)
	if end != nil {
		e := CallEnd{Err: err}
		if ok && a.Kind == KindError {
			e.Answer = a.Err
		}
		end(e)
	}
	return a, ok
}

// answer is the answer to the call or notification m whose handler
// returned result and err, if it has one, and the error it ended with.
func (p *Peer) answer(m Message, result any, err error) (Message, bool, error) {
	if err == nil && m.Kind == KindCall {
		payload, merr := encodeJSON(result)
		if merr == nil {
			return Message{Kind: KindResult, ID: m.ID, Payload: payload}, true, nil
		}
		err = fmt.Errorf("message: the result of %s: %w", m.Method, merr)
	}
	if err == nil {
		return Message{}, false, nil
	}
	if failed(err) {
		p.report(&HandlerError{Method: m.Method, ID: m.ID, Err: err}, true)
	} else if m.Kind == KindNotify {
		p.report(fmt.Errorf("message: notification %s: %w", m.Method, err), false)
	}
	if m.Kind != KindCall {
		return Message{}, false, err
	}
	return p.errorAnswer(m.ID, err), true, err
}

// invoke calls the handler, recovering a panic as a *service.PanicError.
func (p *Peer) invoke(ctx context.Context, req *Request) (result any, err error) {
	if p.h == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownMethod, req.Method)
	}
	defer func() {
		if v := recover(); v != nil {
			result, err = nil, &service.PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return p.h.ServeMessage(ctx, req)
}

// failed reports whether a handler's error is its own failure, rather
// than an answer it chose or the peer's fault.
func failed(err error) bool {
	var e *Error
	return !errors.As(err, &e) && !errors.Is(err, ErrUnknownMethod) && !errors.Is(err, ErrInvalidParams)
}

// errorAnswer is the error message that answers the call id with err.
func (p *Peer) errorAnswer(id string, err error) Message {
	return Message{Kind: KindError, ID: id, Err: p.codec.ErrorFor(err)}
}

// send writes answers as one frame. It writes under the connection's own
// context, which ends only once the connection is closing: a write under
// a context that ended mid-write would end the connection without a
// close frame, and Serve's ctx may end while an answer is on its way.
func (p *Peer) send(msgs []Message, batch bool) {
	if len(msgs) == 0 {
		return
	}
	typ, data, err := p.codec.Encode(msgs, batch)
	if err != nil {
		p.report(fmt.Errorf("message: writing an answer: %w", err), false)
		return
	}
	_ = p.c.Send(p.c.Context(), typ, data) // fails only on a connection that is ending
}

// HandlerError is a handler's failure as Options.OnError receives it: the
// method and ID of the call (ID "" for a notification) and the error, a
// *service.PanicError for a panic.
type HandlerError struct {
	Method string
	ID     string
	Err    error
}

// Error describes the failure.
func (e *HandlerError) Error() string {
	return fmt.Sprintf("message: handler of %s (ID %q): %v", e.Method, e.ID, e.Err)
}

// Unwrap returns the handler's error.
func (e *HandlerError) Unwrap() error { return e.Err }

// report gives err to OnError, or logs a handler's failure when OnError
// is nil.
func (p *Peer) report(err error, failure bool) {
	if p.opts.OnError != nil {
		p.opts.OnError(p, err)
		return
	}
	if !failure {
		return
	}
	he := err.(*HandlerError)
	attrs := []slog.Attr{
		slog.String("protocol", p.c.Subprotocol()),
		slog.String("remote", p.c.RemoteAddr().String()),
		slog.String("method", he.Method),
		slog.String("id", he.ID),
	}
	if r := p.c.Request(); r != nil {
		attrs = append([]slog.Attr{slog.String("route", r.Pattern)}, attrs...)
	}
	var pe *service.PanicError
	if errors.As(he.Err, &pe) {
		attrs = append(attrs, slog.Any("panic", pe.Value), slog.String("stack", string(pe.Stack)))
	} else {
		attrs = append(attrs, slog.String("error", he.Err.Error()))
	}
	slog.Default().LogAttrs(context.Background(), slog.LevelError, "message handler failed", attrs...)
}

// encodeJSON writes v as JSON: a json.RawMessage as it is, nil as no
// payload.
func encodeJSON(v any) (json.RawMessage, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		return v, nil
	}
	return json.Marshal(v)
}

// Call calls method on the peer with params (written as JSON; nil for
// none) and waits for the answer, whose result it decodes into result
// (a pointer; nil to drop it). The peer's error message is returned as an
// *Error. Call waits its turn if Options.MaxOutgoing calls are in
// flight; it returns an error wrapping ErrTimeout when no answer came
// within Options.CallTimeout, ctx's error if ctx ends first, and the
// connection's close if it ends first.
func (p *Peer) Call(ctx context.Context, method string, params, result any) (err error) {
	payload, err := encodeJSON(params)
	if err != nil {
		return fmt.Errorf("message: call %s: params: %w", method, err)
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return p.callEnded(ctx, method, "")
	case <-p.done:
		return p.closed(method)
	}
	defer func() { <-p.slots }()
	// The timeout runs from the turn of the call, not from the wait for
	// it.
	if t := p.opts.CallTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, t, ErrTimeout)
		defer cancel()
	}

	ch := make(chan Message, 1)
	p.mu.Lock()
	if p.pending == nil && p.ended != nil {
		p.mu.Unlock()
		return p.closed(method)
	}
	p.seq++
	id := p.codec.NewID(p.seq)
	p.pending[id] = ch
	p.mu.Unlock()
	ctx, end := p.onCall(ctx, CallInfo{Outgoing: true, Kind: KindCall, Method: method, ID: id})
	if end != nil {
		defer func() {
			e := CallEnd{Err: err}
			errors.As(err, &e.Answer)
			end(e)
		}()
	}
	forget := func() {
		p.mu.Lock()
		delete(p.pending, id)
		p.mu.Unlock()
	}

	typ, data, err := p.codec.Encode([]Message{{Kind: KindCall, ID: id, Method: method, Payload: payload}}, false)
	if err != nil {
		forget()
		return fmt.Errorf("message: call %s: %w", method, err)
	}
	if err := p.c.Send(ctx, typ, data); err != nil {
		forget()
		if ctx.Err() != nil {
			return p.callEnded(ctx, method, id)
		}
		return fmt.Errorf("message: call %s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Kind == KindError {
			return m.Err
		}
		if result != nil && len(m.Payload) > 0 {
			if err := json.Unmarshal(m.Payload, result); err != nil {
				return fmt.Errorf("message: call %s: result: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		forget()
		return p.callEnded(ctx, method, id)
	case <-p.done:
		return p.closed(method)
	}
}

// callEnded is Call's error when ctx ended: ErrTimeout if the call
// timeout did, else ctx's own error.
func (p *Peer) callEnded(ctx context.Context, method, id string) error {
	cause := context.Cause(ctx)
	if !errors.Is(cause, ErrTimeout) {
		cause = ctx.Err()
	}
	if id == "" {
		return fmt.Errorf("message: call %s: %w", method, cause)
	}
	return fmt.Errorf("message: call %s (ID %s): %w", method, id, cause)
}

// closed is the error of a call on a Peer whose Serve has ended.
func (p *Peer) closed(method string) error {
	p.mu.Lock()
	err := p.ended
	p.mu.Unlock()
	return fmt.Errorf("message: call %s: %w", method, err)
}

// Notify sends a notification of method with params (written as JSON;
// nil for none), which the peer does not answer. It returns an error
// wrapping ErrNotSupported for a protocol without notifications.
func (p *Peer) Notify(ctx context.Context, method string, params any) error {
	payload, err := encodeJSON(params)
	if err != nil {
		return fmt.Errorf("message: notify %s: params: %w", method, err)
	}
	return p.Send(ctx, Message{Kind: KindNotify, Method: method, Payload: payload})
}

// Send writes messages as they are, in one frame (a batch, for more than
// one): for protocols whose exchanges are not calls and answers, such as
// a stream of results for one subscription. As with service.Conn.Send, a
// write that ctx interrupts ends the connection; under p.Conn().Context()
// a write finishes unless the connection closes.
func (p *Peer) Send(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	typ, data, err := p.codec.Encode(msgs, len(msgs) > 1)
	if err != nil {
		return fmt.Errorf("message: send: %w", err)
	}
	return p.c.Send(ctx, typ, data)
}
