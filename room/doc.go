// Package room fans messages out to groups of WebSocket connections: a
// chat room, the viewers of a live dashboard, the devices of a fleet.
//
// A Room has members, each a *service.Conn that joined it with some
// metadata. Broadcast sends a message to every member (or every member
// but its sender) without ever waiting for one: the message is made
// once and queued on the room's shards of up
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
//
// # Concurrency
//
// Room, Member and Hub are safe for concurrent use. Their locks (a
// hub's, a room's, one per shard of a room's members) are held only to
// read or change their state: no Transport call, no History.Encode and
// no write to a connection is made while one is held. Rooms do not wait on each other: a Hub makes
// a room over a Transport without its lock, so that the Joins of other
// rooms go on meanwhile, and the Joins of that room wait for it as long
// as their ctx allows. A room's presence events are handed to its
// Transport in the order they happened, by whichever goroutine finds
// them waiting (see Transport.Publish).
//
// A room runs these goroutines:
//
//   - one per member, which writes its queue to its connection; it ends
//     when the member leaves;
//   - one per shard of up to 128 members whose queue a broadcast found
//     idle, but the shard the broadcaster writes to itself, and one
//     for what is queued after the batch the broadcaster wrote; it ends
//     when the shard's queue is empty;
//   - over a Transport, one that publishes the room's presence events
//     when a Join or Leave finds more waiting than its own, which ends
//     when none is left; and one that detaches a closed room, which
//     ends once the Transport's detach returns;
//   - with History, in a Hub, a timer that closes an empty room once
//     its newest message has aged out.
package room
