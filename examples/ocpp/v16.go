package main

import (
	"context"
	"strconv"

	"github.com/wsmap/wsmap/message"
)

// The payloads of OCPP 1.6 that the central system reads, as far as it
// reads them; the schemas have checked them whole before.
type (
	bootNotification16 struct {
		ChargePointVendor       string `json:"chargePointVendor"`
		ChargePointModel        string `json:"chargePointModel"`
		ChargePointSerialNumber string `json:"chargePointSerialNumber"`
		FirmwareVersion         string `json:"firmwareVersion"`
	}
	statusNotification16 struct {
		ConnectorID int    `json:"connectorId"`
		ErrorCode   string `json:"errorCode"`
		Status      string `json:"status"`
	}
)

// router16 serves the calls of OCPP 1.6 stations with cs.
func router16(cs *central) *message.Router {
	r := &message.Router{}
	r.Handle("BootNotification", message.Func(func(ctx context.Context, p bootNotification16) (bootAnswer, error) {
		return cs.boot(stationFrom(ctx), bootInfo{
			Vendor: p.ChargePointVendor, Model: p.ChargePointModel,
			Serial: p.ChargePointSerialNumber, Firmware: p.FirmwareVersion,
		}), nil
	}))
	r.Handle("Heartbeat", message.Func(func(ctx context.Context, _ empty) (heartbeatAnswer, error) {
		return cs.heartbeat(stationFrom(ctx)), nil
	}))
	r.Handle("StatusNotification", message.Func(func(ctx context.Context, p statusNotification16) (empty, error) {
		return cs.status(stationFrom(ctx), statusReport{
			Connector: strconv.Itoa(p.ConnectorID), Status: p.Status, ErrorCode: p.ErrorCode,
		}), nil
	}))
	return r
}
