package asyncapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wsmap/wsmap/asyncapi"
	"github.com/wsmap/wsmap/internal/asyncapitest"
	"github.com/wsmap/wsmap/mux"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	m := &mux.Mux{}
	h := asyncapi.Handler(&asyncapi.Options{Title: "T"}, asyncapi.Mount{Mux: m})
	get := func(method string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, "/asyncapi.json", nil))
		return w
	}
	w := get(http.MethodGet)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	asyncapitest.Validate(t, w.Body.Bytes())
	if strings.Contains(w.Body.String(), `"channels"`) {
		t.Errorf("channels in the document of an empty mux:\n%s", w.Body)
	}

	// A route added while serving is in the next document.
	m.Handle(`/late`, nop)
	w = get(http.MethodGet)
	asyncapitest.Validate(t, w.Body.Bytes())
	if !strings.Contains(w.Body.String(), `"address": "/late"`) {
		t.Errorf("no channel /late:\n%s", w.Body)
	}
	if w := get(http.MethodHead); w.Code != http.StatusOK {
		t.Errorf("HEAD: %d", w.Code)
	}
	if w := get(http.MethodPost); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}

	bad := asyncapi.Handler(nil, asyncapi.Mount{Prefix: "ws", Mux: m})
	rec := httptest.NewRecorder()
	bad.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `prefix "ws"`) {
		t.Errorf("bad prefix: %d %q", rec.Code, rec.Body)
	}
}
