package main

import (
	"context"
	"testing"
)

func TestOperationType(t *testing.T) {
	for _, tt := range []struct {
		doc, name string
		want      opType
		err       string
	}{
		{`{ hello }`, "", opQuery, ""},
		{`query { hello }`, "", opQuery, ""},
		{`query Q { hello }`, "Q", opQuery, ""},
		{`mutation { post(text: "x") { id } }`, "", opMutation, ""},
		{`subscription { countdown(from: 1) }`, "", opSubscription, ""},
		{`subscription S($n: Int! = 3) @d(a: "}") { countdown(from: $n) }`, "S", opSubscription, ""},
		{`query @d { hello }`, "", opQuery, ""},
		{"# subscription {\nmutation M { post(text: \"\"\"query { \\\"\"\" }\"\"\") { id } }", "", opMutation, ""},
		{`fragment F on Message { id } subscription S { messages { ...F } }`, "", opSubscription, ""},
		{`query A { hello } subscription B { messages { id } } mutation C { post(text: "{") { id } }`, "B", opSubscription, ""},
		{`query A { hello } subscription B { messages { id } } mutation C { post(text: "{") { id } }`, "C", opMutation, ""},
		{`query A { hello(name: "subscription") } subscription B { messages { id } }`, "A", opQuery, ""},
		{`query A { hello } query B { hello }`, "", 0, "more than one operation in query document and no operation name given"},
		{`query A { hello }`, "B", 0, `no operation with name "B"`},
		{`fragment F on Query { hello }`, "", 0, "more than one operation in query document and no operation name given"},
	} {
		got, err := operationType(tt.doc, tt.name)
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && err.Error() != tt.err {
			t.Errorf("operationType(%q, %q) = %v, %v; want %v, %q", tt.doc, tt.name, got, err, tt.want, tt.err)
		}
	}
}

// FuzzOperationType checks operationType against graphql-go: for every
// document the schema validates, the operation it finds is the one
// graphql-go selects, of the same type: Exec refuses it as a
// subscription exactly when operationType says it is one.
func FuzzOperationType(f *testing.F) {
	for _, doc := range []string{
		`{ hello }`,
		`query Q($n: String = "x") @include(if: true) { hello(name: $n) }`,
		`subscription { countdown(from: 2) }`,
		"# c\nmutation M { post(text: \"\"\"a\"\"\") { id } } query { hello }",
		`fragment F on Message { text } subscription S { messages { ...F } }`,
	} {
		f.Add(doc, "")
		f.Add(doc, "M")
	}
	s, err := newServer(1, 1)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc, name string) {
		typ, err := operationType(doc, name) // never panics, whatever doc is
		if errs := s.exec.schema.Validate(doc); len(errs) > 0 || err != nil {
			return
		}
		if typ == opMutation {
			return // not executed: it would post
		}
		resp := s.exec.schema.Exec(context.Background(), doc, name, nil)
		refused := len(resp.Errors) == 1 && resp.Errors[0].Message == "graphql-ws protocol header is missing"
		if refused != (typ == opSubscription) {
			t.Errorf("operationType(%q, %q) = %v; Exec: %s %v", doc, name, typ, resp.Data, resp.Errors)
		}
	})
}
