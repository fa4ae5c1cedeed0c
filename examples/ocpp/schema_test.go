package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/message/ocppj"
)

// TestCallErrors: each kind of schema violation, and each message that
// is not a call the central system can serve, is answered with the
// CALLERROR code of the station's version, spelled as it spells it.
func TestCallErrors(t *testing.T) {
	t.Parallel()
	p := start(t)
	long := strings.Repeat("x", 51)
	tests := []struct {
		version string
		name    string
		frame   string // sent as it is; its unique ID is "e1"
		id      string // the answer's unique ID
		code    string
		details map[string]any // some of the details; nil to skip
	}{
		// OCPP 1.6
		{"ocpp1.6", "missing property", `[2,"e1","BootNotification",{"chargePointVendor":"v"}]`, "e1",
			"OccurenceConstraintViolation", map[string]any{"location": "", "keyword": "required"}},
		{"ocpp1.6", "wrong type", `[2,"e1","BootNotification",{"chargePointVendor":5,"chargePointModel":"m"}]`, "e1",
			"TypeConstraintViolation", map[string]any{"location": "/chargePointVendor", "keyword": "type"}},
		{"ocpp1.6", "integer with a fraction", `[2,"e1","StatusNotification",{"connectorId":1.5,"errorCode":"NoError","status":"Available"}]`, "e1",
			"TypeConstraintViolation", map[string]any{"location": "/connectorId"}},
		{"ocpp1.6", "additional property", `[2,"e1","BootNotification",{"chargePointVendor":"v","chargePointModel":"m","colour":"red"}]`, "e1",
			"FormationViolation", map[string]any{"location": "", "keyword": "additionalProperties"}},
		{"ocpp1.6", "too long", `[2,"e1","BootNotification",{"chargePointVendor":"` + long + `","chargePointModel":"m"}]`, "e1",
			"PropertyConstraintViolation", map[string]any{"location": "/chargePointVendor", "keyword": "maxLength"}},
		{"ocpp1.6", "not in the enum", `[2,"e1","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Flying"}]`, "e1",
			"PropertyConstraintViolation", map[string]any{"location": "/status", "keyword": "enum"}},
		{"ocpp1.6", "not a date-time", `[2,"e1","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available","timestamp":"yesterday"}]`, "e1",
			"PropertyConstraintViolation", map[string]any{"location": "/timestamp", "keyword": "format"}},
		{"ocpp1.6", "several: the structure first", `[2,"e1","BootNotification",{"chargePointVendor":5,"colour":"red"}]`, "e1",
			"FormationViolation", map[string]any{"violations": 3.0}},
		{"ocpp1.6", "several: a missing one before a wrong type", `[2,"e1","BootNotification",{"chargePointVendor":5}]`, "e1",
			"OccurenceConstraintViolation", map[string]any{"violations": 2.0}},
		{"ocpp1.6", "payload not an object", `[2,"e1","Heartbeat",[]]`, "e1", "FormationViolation", nil},
		{"ocpp1.6", "unknown action", `[2,"e1","Fly",{}]`, "e1", "NotImplemented", nil},
		{"ocpp1.6", "an action of 2.0.1 only", `[2,"e1","NotifyReport",{}]`, "e1", "NotImplemented", nil},
		{"ocpp1.6", "an action not served", `[2,"e1","Authorize",{"idTag":"A"}]`, "e1", "NotSupported", nil},
		{"ocpp1.6", "not JSON", `[2,"e1",`, "-1", "FormationViolation", nil},
		{"ocpp1.6", "unknown message type", `[7,"e1","Heartbeat",{}]`, "e1", "FormationViolation", nil},

		// OCPP 2.0.1
		{"ocpp2.0.1", "missing property", `[2,"e1","BootNotification",{"reason":"PowerUp","chargingStation":{"vendorName":"v"}}]`, "e1",
			"OccurenceConstraintViolation", map[string]any{"location": "/chargingStation", "keyword": "required"}},
		{"ocpp2.0.1", "wrong type", `[2,"e1","BootNotification",{"reason":"PowerUp","chargingStation":{"vendorName":"v","model":7}}]`, "e1",
			"TypeConstraintViolation", map[string]any{"location": "/chargingStation/model", "keyword": "type"}},
		{"ocpp2.0.1", "additional property", `[2,"e1","Heartbeat",{"beat":1}]`, "e1",
			"FormatViolation", map[string]any{"location": "", "keyword": "additionalProperties"}},
		{"ocpp2.0.1", "too long", `[2,"e1","BootNotification",{"reason":"PowerUp","chargingStation":{"vendorName":"v","model":"` + long + `"}}]`, "e1",
			"PropertyConstraintViolation", map[string]any{"location": "/chargingStation/model", "keyword": "maxLength"}},
		{"ocpp2.0.1", "not in the enum", `[2,"e1","BootNotification",{"reason":"Bored","chargingStation":{"vendorName":"v","model":"m"}}]`, "e1",
			"PropertyConstraintViolation", map[string]any{"location": "/reason", "keyword": "enum"}},
		{"ocpp2.0.1", "not a date-time", `[2,"e1","StatusNotification",{"timestamp":"2024-13-01T00:00:00Z","connectorStatus":"Available","evseId":1,"connectorId":1}]`, "e1",
			"PropertyConstraintViolation", map[string]any{"location": "/timestamp", "keyword": "format"}},
		{"ocpp2.0.1", "an action not served, whatever its payload", `[2,"e1","NotifyReport",{"requestId":1,"generatedAt":"2024-01-01T00:00:00Z","seqNo":0,"reportData":[]}]`, "e1",
			"NotSupported", nil}, // served by nobody: NotSupported comes before the schema
		{"ocpp2.0.1", "payload not an object", `[2,"e1","Heartbeat","x"]`, "e1", "FormatViolation", nil},
		{"ocpp2.0.1", "unknown action", `[2,"e1","Fly",{}]`, "e1", "NotImplemented", nil},
		{"ocpp2.0.1", "an action of 1.6 only", `[2,"e1","StartTransaction",{}]`, "e1", "NotImplemented", nil},
		{"ocpp2.0.1", "an action not served", `[2,"e1","Authorize",{"idToken":{"idToken":"A","type":"Central"}}]`, "e1", "NotSupported", nil},
		{"ocpp2.0.1", "not JSON", `[2,"e1",`, "-1", "RpcFrameworkError", nil},
		{"ocpp2.0.1", "unknown message type", `[7,"e1","Heartbeat",{}]`, "e1", "MessageTypeNotSupported", nil},
	}
	for i, tt := range tests {
		t.Run(tt.version+" "+tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustDial(t, p.Addr, fmt.Sprintf("CE-%d", i), tt.version)
			s.send(tt.frame)
			frame, elems := s.recv()
			if len(elems) != 5 || string(elems[0]) != "4" || str(elems[1]) != tt.id || str(elems[2]) != tt.code || str(elems[3]) == "" {
				t.Fatalf("answered %s, want [4,%q,%q,<a description>,{…}]", frame, tt.id, tt.code)
			}
			var details map[string]any
			if err := json.Unmarshal(elems[4], &details); err != nil {
				t.Fatalf("details %s: %v", elems[4], err)
			}
			for k, want := range tt.details {
				if details[k] != want {
					t.Errorf("details[%q] = %v, want %v (answer %s)", k, details[k], want, frame)
				}
			}
		})
	}
}

// TestStationCalls: the calls served are answered in both versions with
// what the version's schema asks for, and the station's state is kept.
func TestStationCalls(t *testing.T) {
	t.Parallel()
	p := start(t, "-heartbeat", "90s")
	tests := []struct {
		version, boot, status, connector, state string
	}{
		{"ocpp1.6",
			`{"chargePointVendor":"Acme","chargePointModel":"One","firmwareVersion":"1.0"}`,
			`{"connectorId":2,"errorCode":"NoError","status":"Charging","timestamp":"2024-05-01T10:00:00Z"}`,
			"2", "Charging"},
		{"ocpp2.0.1",
			`{"reason":"PowerUp","chargingStation":{"vendorName":"Acme","model":"One","serialNumber":"S1"}}`,
			`{"timestamp":"2024-05-01T10:00:00.123Z","connectorStatus":"Occupied","evseId":1,"connectorId":2}`,
			"1/2", "Occupied"},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			t.Parallel()
			id := "SC-" + strings.TrimPrefix(tt.version, "ocpp")
			s := mustDial(t, p.Addr, id, tt.version)
			boot := s.result("BootNotification", tt.boot)
			if boot["status"] != "Accepted" || boot["interval"] != 90.0 || !isTimestamp(boot["currentTime"]) || len(boot) != 3 {
				t.Errorf("BootNotification: %v", boot)
			}
			if hb := s.result("Heartbeat", `{}`); !isTimestamp(hb["currentTime"]) || len(hb) != 1 {
				t.Errorf("Heartbeat: %v", hb)
			}
			if st := s.result("StatusNotification", tt.status); len(st) != 0 {
				t.Errorf("StatusNotification: %v", st)
			}
			var got *listed
			for _, l := range stations(t, p.Addr) {
				if l.ID == id {
					got = &l
				}
			}
			want := &listed{ID: id, Protocol: tt.version, Vendor: "Acme", Model: "One", Connectors: map[string]string{tt.connector: tt.state}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("GET /stations (-want +got):\n%s", diff)
			}
		})
	}
}

// isTimestamp reports whether v is a time as both versions write it.
func isTimestamp(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	_, err := time.Parse("2006-01-02T15:04:05.000Z", s)
	return err == nil
}

// TestSchemasCompile: every schema of each version compiles, and each
// version defines the actions it is known by.
func TestSchemasCompile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		version ocppj.Version
		actions int
		has     []string
		lacks   []string
	}{
		{ocppj.V16, 39, []string{"BootNotification", "GetConfiguration", "StartTransaction", "SignCertificate"}, []string{"GetVariables", "Fly"}},
		{ocppj.V201, 64, []string{"BootNotification", "GetVariables", "TransactionEvent"}, []string{"GetConfiguration", "StartTransaction"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.version), func(t *testing.T) {
			t.Parallel()
			s, err := loadSchemas(tt.version)
			if err != nil {
				t.Fatal(err)
			}
			actions := 0
			for id := range s.ids {
				if strings.HasSuffix(id, ".req") {
					actions++
				}
				_ = s.schema(id)
			}
			if actions != tt.actions {
				t.Errorf("%d actions, want %d", actions, tt.actions)
			}
			for _, a := range tt.has {
				if !s.defines(a) {
					t.Errorf("%s is not defined", a)
				}
			}
			for _, a := range tt.lacks {
				if s.defines(a) {
					t.Errorf("%s is defined", a)
				}
			}
		})
	}
}
