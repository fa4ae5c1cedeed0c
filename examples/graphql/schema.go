package main

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
)

// schemaText is the GraphQL schema that every transport serves.
const schemaText = `
schema {
	query: Query
	mutation: Mutation
	subscription: Subscription
}

type Query {
	hello(name: String): String!
}

type Mutation {
	post(text: String!): Message!
}

type Subscription {
	countdown(from: Int!): Int!
	messages: Message!
}

type Message {
	id: ID!
	text: String!
}
`

// countdownStep is the time between two values of countdown.
const countdownStep = 50 * time.Millisecond

// resolver resolves the schema's root fields, for every connection and
// every HTTP request.
type resolver struct {
	feed   *feed
	lastID atomic.Uint64
}

// newSchema parses the schema over r.
func newSchema(r *resolver) (*graphql.Schema, error) {
	return graphql.ParseSchema(schemaText, r,
		// graphql-go drops a subscription's event that the reader does
		// not take within this time; a reader is only ever that slow
		// while a write to its connection blocks, which the connection's
		// write timeout (10s) ends first.
		graphql.SubscribeResolverTimeout(15*time.Second),
	)
}

// Hello answers "Hello, NAME!", or "Hello, world!" without a name.
func (r *resolver) Hello(args struct{ Name *string }) string {
	name := "world"
	if args.Name != nil {
		name = *args.Name
	}
	return "Hello, " + name + "!"
}

// Post makes a message of text, with the next ID, and sends it to every
// messages subscription.
func (r *resolver) Post(args struct{ Text string }) *messageResolver {
	m := &messageResolver{id: graphql.ID(strconv.FormatUint(r.lastID.Add(1), 10)), text: args.Text}
	r.feed.publish(m)
	return m
}

// Countdown sends from, from-1, … 0, countdownStep apart, then ends the
// stream. Its goroutine ends with ctx, which the operation's end cancels.
func (r *resolver) Countdown(ctx context.Context, args struct{ From int32 }) <-chan int32 {
	ch := make(chan int32)
	go func() {
		defer close(ch)
		t := time.NewTicker(countdownStep)
		defer t.Stop()
		for n := args.From; n >= 0; n-- {
			if n != args.From {
				select {
				case <-t.C:
				case <-ctx.Done():
					return
				}
			}
			select {
			case ch <- n:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// Messages sends every message posted from now on, until ctx ends. A
// subscriber that falls more than feedQueue messages behind ends its
// operation with an error (see failOperation).
func (r *resolver) Messages(ctx context.Context) <-chan *messageResolver {
	ch, cancel := r.feed.subscribe(func() { failOperation(ctx, errFellBehind) })
	context.AfterFunc(ctx, cancel)
	return ch
}

// messageResolver is a posted Message.
type messageResolver struct {
	id   graphql.ID
	text string
}

// ID returns the message's ID.
func (m *messageResolver) ID() graphql.ID { return m.id }

// Text returns the message's text.
func (m *messageResolver) Text() string { return m.text }
