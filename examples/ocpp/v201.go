package main

import (
	"context"
	"fmt"

	"github.com/wsmap/wsmap/message"
)

// The payloads of OCPP 2.0.1 that the central system reads, as far as it
// reads them; the schemas have checked them whole before.
type (
	bootNotification201 struct {
		ChargingStation struct {
			SerialNumber    string `json:"serialNumber"`
			Model           string `json:"model"`
			VendorName      string `json:"vendorName"`
			FirmwareVersion string `json:"firmwareVersion"`
		} `json:"chargingStation"`
		Reason string `json:"reason"`
	}
	statusNotification201 struct {
		ConnectorStatus string `json:"connectorStatus"`
		EvseID          int    `json:"evseId"`
		ConnectorID     int    `json:"connectorId"`
	}
)

// router201 serves the calls of OCPP 2.0.1 stations with cs.
func router201(cs *central) *message.Router {
	r := &message.Router{}
	r.Handle("BootNotification", message.Func(func(ctx context.Context, p bootNotification201) (bootAnswer, error) {
		s := p.ChargingStation
		return cs.boot(stationFrom(ctx), bootInfo{
			Vendor: s.VendorName, Model: s.Model, Serial: s.SerialNumber, Firmware: s.FirmwareVersion,
			Reason: p.Reason,
		}), nil
	}))
	r.Handle("Heartbeat", message.Func(func(ctx context.Context, _ empty) (heartbeatAnswer, error) {
		return cs.heartbeat(stationFrom(ctx)), nil
	}))
	r.Handle("StatusNotification", message.Func(func(ctx context.Context, p statusNotification201) (empty, error) {
		return cs.status(stationFrom(ctx), statusReport{
			Connector: fmt.Sprintf("%d/%d", p.EvseID, p.ConnectorID), Status: p.ConnectorStatus,
		}), nil
	}))
	return r
}
