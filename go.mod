module github.com/wsmap/wsmap

go 1.26.0

require (
	github.com/go-chi/chi/v5 v5.5.0
	github.com/google/go-cmp v0.7.0
	github.com/gorilla/websocket v1.5.4-0.20250319132907-e064f32e3674
	go.uber.org/goleak v1.3.0
)

require golang.org/x/net v0.62.0 // indirect
