package main

import (
	"log/slog"
	"time"
)

// central is the business of the central system, the same whichever
// version a station speaks: each version's handlers (v16.go, v201.go)
// read their payloads into the types below, call it, and write its
// answers, whose shape both versions share.
type central struct {
	interval time.Duration // between heartbeats, given to stations that boot
	log      *slog.Logger
	now      func() time.Time
}

// bootInfo is what a station says of itself when it boots.
type bootInfo struct {
	Vendor, Model, Serial, Firmware string
	Reason                          string // 2.0.1 only: why it booted
}

// bootAnswer answers a BootNotification, in both versions.
type bootAnswer struct {
	Status      string `json:"status"`
	CurrentTime string `json:"currentTime"`
	Interval    int    `json:"interval"`
}

// heartbeatAnswer answers a Heartbeat, in both versions.
type heartbeatAnswer struct {
	CurrentTime string `json:"currentTime"`
}

// statusReport is a StatusNotification: the status of a connector (of
// an EVSE, in 2.0.1; 1.6 has connectors only, 0 standing for the whole
// charge point).
type statusReport struct {
	Connector string // "2" in 1.6, "1/2" (EVSE 1, connector 2) in 2.0.1
	Status    string
	ErrorCode string // 1.6 only; "NoError" when there is none
}

// empty is an answer without fields: {}.
type empty struct{}

// boot accepts every station and records what it says of itself.
func (cs *central) boot(st *station, b bootInfo) bootAnswer {
	st.mu.Lock()
	st.vendor, st.model = b.Vendor, b.Model
	st.mu.Unlock()
	cs.log.Info("station booted", "station", st.id, "protocol", st.version,
		"vendor", b.Vendor, "model", b.Model, "serial", b.Serial, "firmware", b.Firmware, "reason", b.Reason)
	return bootAnswer{Status: "Accepted", CurrentTime: cs.timestamp(), Interval: int(cs.interval / time.Second)}
}

// heartbeat gives the station the time.
func (cs *central) heartbeat(st *station) heartbeatAnswer {
	return heartbeatAnswer{CurrentTime: cs.timestamp()}
}

// status records a connector's status.
func (cs *central) status(st *station, r statusReport) empty {
	st.mu.Lock()
	if st.connectors == nil {
		st.connectors = make(map[string]string)
	}
	st.connectors[r.Connector] = r.Status
	st.mu.Unlock()
	cs.log.Info("connector status", "station", st.id, "connector", r.Connector, "status", r.Status, "error", r.ErrorCode)
	return empty{}
}

// timestamp is the current time as both versions write it: RFC 3339 in
// UTC, with milliseconds (2.0.1 allows no more than three decimals).
func (cs *central) timestamp() string {
	return cs.now().UTC().Format("2006-01-02T15:04:05.000Z")
}
