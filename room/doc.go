// Package room fans messages out to groups of WebSocket connections: a
// chat room, the viewers of a live dashboard, the devices of a fleet.
//
// A Room has members, each a *service.Conn that joined it with some
// metadata. Broadcast sends a message to every member (or every member
// but its sender) without ever waiting for one: the message is made
// once (service.PreparedMessage) and written to each member: by the
// broadcaster itself when the member has nothing queued and its socket
// takes the message at once, otherwise queued for the member's own
// goroutine, which writes it. A member whose queue is full, because it reads
// more slowly than the room talks, is dropped: its connection is closed
// with 1008 (policy violation) and the reason "too slow: message queue
// full", and the others do not notice. Members leave when they call
// Leave or when their connection ends, for whatever reason.
//
// A Hub holds rooms by name, creating each on its first member and
// forgetting it after its last.
//
// Rooms in one process need nothing else. To spread a room's members over
// several processes, give the Hub or Room a Transport, which carries
// messages and presence between them.
package room
