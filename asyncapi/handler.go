package asyncapi

import (
	"bytes"
	"net/http"
)

// Handler serves the document of mounts as JSON, made afresh for each
// request (so routes added meanwhile are in it) as New makes it. It
// answers GET and HEAD, 405 to other methods, and 500 with New's error
// if the routes cannot be described.
func Handler(opts *Options, mounts ...Mount) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		d, err := New(opts, mounts...)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var b bytes.Buffer
		if _, err := d.WriteTo(&b); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b.Bytes())
	})
}
