package protocol_test

import (
	"fmt"
	"net/http"

	"github.com/wsmap/wsmap/protocol"
)

func ExampleParseOffer() {
	offer, err := protocol.ParseOffer([]string{"chat.v2, chat.v1", "chat.v1"})
	fmt.Println(offer, err)

	_, err = protocol.ParseOffer([]string{"chat v2"})
	fmt.Println(err)
	// Output:
	// [chat.v2 chat.v1] <nil>
	// protocol: malformed Sec-WebSocket-Protocol offer: "chat v2" is not a token: byte ' ' at line 1, offset 4
}

func ExampleSelect() {
	h := http.Header{}
	h.Set("Sec-WebSocket-Protocol", "chat.v2, chat.v1")
	offer, _ := protocol.OfferFromHeader(h)
	supported := []string{"chat.v1", "chat.v2"}

	p, _ := protocol.Select(offer, supported, protocol.ClientOrder)
	fmt.Println("client order:", p)
	p, _ = protocol.Select(offer, supported, protocol.ServerOrder)
	fmt.Println("server order:", p)
	_, ok := protocol.Select(protocol.Offer{"CHAT.V1"}, supported, protocol.ClientOrder)
	fmt.Println("case-insensitive match:", ok)
	// Output:
	// client order: chat.v2
	// server order: chat.v1
	// case-insensitive match: false
}

func ExampleCloseCode() {
	fmt.Println(protocol.CloseGoingAway)
	fmt.Println(protocol.CloseCode(4000), protocol.CloseCode(4000).Sendable())
	fmt.Println(protocol.CloseAbnormal.Sendable())
	// Output:
	// 1001 (going away)
	// 4000 (private use) true
	// false
}
