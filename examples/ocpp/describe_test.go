package main

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/asyncapi"
	"github.com/wsmap/wsmap/internal/asyncapitest"
)

// TestAsyncAPI checks the document -asyncapi prints against the official
// schema, its operations, and that its schemas of BootNotification take
// a real call and answer of each version and refuse a wrong one.
func TestAsyncAPI(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(bin, "-asyncapi").Output()
	if err != nil {
		t.Fatal(err)
	}
	asyncapitest.Validate(t, out)
	var doc asyncapi.Document
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for id, op := range doc.Operations {
		ops = append(ops, id+" "+op.Action)
	}
	slices.Sort(ops)
	var want []string
	for _, v := range []string{"ocpp1.6", "ocpp2.0.1"} {
		for _, a := range []string{"BootNotification", "Heartbeat", "StatusNotification"} {
			want = append(want, "ocpp_station_"+v+"_"+a+"_receive receive")
		}
		want = append(want, "ocpp_station_"+v+"_CALL_send send")
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, ops); diff != "" {
		t.Errorf("operations (-want +got):\n%s", diff)
	}
	ch := doc.Channels["ocpp_station"]
	if ch == nil || ch.Address == nil || *ch.Address != "/ocpp/{station}" || ch.Parameters["station"] == nil {
		t.Fatalf("channel %+v", ch)
	}
	// The parameter's pattern is stationIDPattern as regexp/syntax writes it.
	station := regexp.MustCompile(`^(?:` + ch.Parameters["station"].Pattern + `)$`)
	for _, id := range []string{"CP1", "a.b_c-D", strings.Repeat("x", 48), "", "a/b", "a b", strings.Repeat("x", 49)} {
		if station.MatchString(id) != stationID.MatchString(id) {
			t.Errorf("station parameter %q matches %q: %v", station, id, station.MatchString(id))
		}
	}
	for _, tt := range []struct {
		message string
		valid   []string
		refuse  []string
	}{
		{"ocpp1.6_BootNotification",
			[]string{`[2, "1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]`},
			[]string{`[2, "1", "BootNotification", {"chargePointVendor": "V"}]`, `[2, "1", "Heartbeat", {}]`}},
		{"ocpp1.6_BootNotification.result",
			[]string{`[3, "1", {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 300}]`},
			[]string{`[3, "1", {"status": "Fine", "currentTime": "2024-01-01T00:00:00Z", "interval": 300}]`}},
		{"ocpp2.0.1_BootNotification",
			[]string{`[2, "1", "BootNotification", {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}]`},
			[]string{`[2, "1", "BootNotification", {"reason": "PowerUp", "chargingStation": {"model": "M"}}]`}},
		{"ocpp2.0.1_CALLERROR",
			[]string{`[4, "1", "FormatViolation", "bad", {}]`},
			[]string{`[4, "1", "FormationViolation", "bad", {}]`}},
	} {
		m := ch.Messages[tt.message]
		if m == nil {
			t.Errorf("no message %s", tt.message)
			continue
		}
		asyncapitest.CheckPayloads(t, tt.message, m.Payload, tt.valid, tt.refuse)
	}
}
