package main

import (
	"context"

	graphql "github.com/graph-gophers/graphql-go"
	qerrors "github.com/graph-gophers/graphql-go/errors"
)

// request is a GraphQL request: the payload of graphql-transport-ws's
// subscribe and of graphql-ws's start, and the body of an HTTP POST.
type request struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
}

// executor runs requests against the schema.
type executor struct {
	schema *graphql.Schema
}

// plan checks req before anything runs and returns the type of the
// operation it selects, or the errors that stop it before execution: a
// syntax error, a validation error (variables included), or an
// operation name that names no operation.
func (e *executor) plan(req *request) (opType, []*qerrors.QueryError) {
	if errs := e.schema.ValidateWithVariables(req.Query, req.Variables); len(errs) > 0 {
		return 0, errs
	}
	typ, err := operationType(req.Query, req.OperationName)
	if err != nil {
		return 0, []*qerrors.QueryError{{Message: err.Error()}}
	}
	return typ, nil
}

// exec runs a query or a mutation.
func (e *executor) exec(ctx context.Context, req *request) *graphql.Response {
	return e.schema.Exec(ctx, req.Query, req.OperationName, req.Variables)
}

// subscribe starts a subscription: its resolver runs before subscribe
// returns, so that the events that follow reach it. The channel carries
// *graphql.Response values and is closed when the stream ends or ctx
// does.
func (e *executor) subscribe(ctx context.Context, req *request) (<-chan any, error) {
	return e.schema.Subscribe(ctx, req.Query, req.OperationName, req.Variables)
}

// failKey is the context key of an operation's failure function.
type failKey struct{}

// withFailure returns ctx carrying fail, which a resolver calls (through
// failOperation) to end its operation with an error.
func withFailure(ctx context.Context, fail func(error)) context.Context {
	return context.WithValue(ctx, failKey{}, fail)
}

// failOperation ends the operation that ctx belongs to with err: its
// client receives err as the operation's error and nothing more for it.
// Outside an operation it does nothing.
func failOperation(ctx context.Context, err error) {
	if fail, ok := ctx.Value(failKey{}).(func(error)); ok {
		fail(err)
	}
}
