// Package room fans messages out to groups of WebSocket connections: a
// chat room, the viewers of a live dashboard, the devices of a fleet.
//
// A Room has members, each a *service.Conn that joined it with some
// metadata. Broadcast sends a message to every member (or every member
// but its sender) without ever waiting for one: the message is made
// once (service.PreparedMessage) and queued on the room's shards of up
// to 128 members, each written to by one goroutine at a time (the
// broadcaster's own for one of them), which gives each member every
// message queued meanwhile in as few writes as fit, directly when the
// member has nothing queued and its socket takes them at once, otherwise
// through the member's own queue and goroutine. Every member receives the
// room's messages in the same order. A member whose queue is full, because it reads
// more slowly than the room talks, is dropped: its connection is closed
// with 1008 (policy violation) and the reason "too slow: message queue
// full", and the others do not notice. Members leave when they call
// Leave or when their connection ends, for whatever reason.
//
// A Hub holds rooms by name, creating each on its first member and
// forgetting it after its last.
//
// A room with a History keeps its recent messages, each at a Position
// (an offset that grows by one per broadcast, within an epoch that
// changes when the room is made again). A client that lost its
// connection comes back with Resume from the last position it saw and
// receives every message it missed, then the live ones, with no gap and
// no duplicate; or learns, from a *RecoveryError, that the room can no
// longer give it that, so that the application resynchronizes it.
//
// Rooms in one process need nothing else. To spread a room's members over
// several processes, give the Hub or Room a Transport, which carries
// messages and presence between them.
package room
