// Package natstransport carries rooms (package room) between wsmap
// servers over NATS (https://nats.io), so that the members of one room
// may be connected to any of several processes behind a load balancer.
//
//	tr, err := natstransport.Connect("nats://127.0.0.1:4222", nil)
//	if err != nil { ... }
//	defer tr.Close()
//	hub, err := room.NewHub(&room.Options{Transport: tr})
//	if err != nil { ... }
//
// Every process whose hub uses a Transport on the same NATS system (and
// the same Options.Prefix) shares its rooms: a broadcast on any of them
// reaches every member of the room once, wherever it is connected, and
// Room.Members lists them all. No process needs to know the others, and
// a client may land on any server: nothing is kept between connections.
//
// # Subjects
//
// A room's events go on the subject PREFIX.room.TOKEN, where TOKEN is
// the room's name with every byte other than ASCII letters, digits, '-'
// and '_' written as '~' and two hex digits: a name cannot add tokens,
// wildcards or white space to a subject, or reach another room's
// subject. Heartbeats go on PREFIX.alive. A process subscribes only to
// the rooms it has members in.
//
// # Delivery
//
// A broadcast is delivered to the local members first, then published
// once; each other process delivers it to its own members, and the
// sending process does not deliver it twice. Messages from one process
// to a room arrive everywhere in the order they were sent; messages
// from different processes may interleave differently on different
// processes. Delivery between processes is NATS's: at most once.
//
// # Presence
//
// Joins and departures are published as they happen. A process that
// attaches to a room asks the others to announce their members. Each
// process says it is alive every HeartbeatInterval; one silent for
// PeerTimeout (crashed, killed, cut off) has its members removed from
// the others' presence, within PeerTimeout and one more
// HeartbeatInterval. A process whose Transport is closed is forgotten
// at once.
//
// # When NATS is unreachable
//
// Local members keep working: joins, departures and broadcasts within
// the process go on as before. Broadcasts are buffered by the NATS
// connection while it reconnects, up to its reconnect buffer
// (nats.ReconnectBufSize, 8 MiB unless set), and sent when it is back;
// beyond that Room.Broadcast returns an error wrapping
// nats.ErrReconnectBufExceeded, after local delivery. Messages published
// while another process is disconnected do not reach it. Presence
// events are not buffered: once the connection is back, every room
// forgets what it knew of the other processes, asks them to announce
// their members again, and announces its own, so that joins and
// departures missed either way are made good. Meanwhile, a process
// that has heard nothing from the others for PeerTimeout lists only its
// own members. A connection that gives up for good (one passed to New
// with a bounded nats.MaxReconnects; Connect's never does) is reported
// to OnError; the rooms then list only their own members, and
// broadcasts return nats.ErrConnectionClosed after local delivery.
//
// # History
//
// A room made with room.Options.History over a Transport keeps its
// history in NATS JetStream, so that a member can resume on any server,
// including after the one it was on has died: in one stream of the
// Transport's (PREFIX_HISTORY, made or updated by KeepHistory), on the
// subject PREFIX.hist.TOKEN, with History.Size messages per room for
// History.MaxAge, in files. A broadcast is appended to the stream, not
// delivered at once: the append takes the room's next offset, with the
// stream sequence of the room's last message as the expected last
// sequence for its subject, so that JetStream refuses it if another
// process appended first (it is then tried again after that one, after a
// random wait that grows with each try lost, so that processes appending
// at once take turns), and
// every process reads the room's subject with an ordered consumer and
// delivers to its members what it reads, in stream order. What is
// guaranteed:
//
//   - the room's offsets follow one another, 1, 2, 3..., and every
//     process gives the same message at each offset, in offset order;
//   - a member receives each message once: a process delivers each
//     offset once (a message JetStream delivers again is recognised by
//     its offset and dropped), and a member that resumes gets, from the
//     stream, exactly the messages after its position and then the live
//     ones, on whichever server it comes back to;
//   - an epoch begins when the room's subject holds no message (a new
//     room, one whose messages all aged out, a stream made anew), so
//     that a position from before is reported as of another epoch;
//     members that are live go on receiving the new epoch's messages;
//   - a process that misses messages of the room (the stream let them
//     go, beyond History.Size or MaxAge, before the process received
//     them) drops its live members as too slow, so that their clients
//     come back and are told, instead of letting them go on without;
//   - Broadcast returns once the process has read its message back from
//     the stream and delivered it to its members (or after 5 seconds
//     without), so that a message the caller then sends a member alone
//     (Member.Send) reaches it after the broadcast.
//
// What is not: a broadcast whose append fails (NATS unreachable, or
// other processes appending first for 10 seconds) returns an error
// and reaches nobody, and one whose acknowledgement was lost may have
// been kept though Broadcast returned an error; a server does not
// deliver its own broadcasts before JetStream has them, so local
// delivery costs a round trip to JetStream; presence events and
// Member.Send messages are not kept. Without JetStream on the NATS
// servers, KeepHistory fails with ErrNoJetStream, the room carries
// messages as without a history, and Resume reports "no history";
// JetStream failing otherwise (until the ctx of the tries ends: 5
// seconds for a room being made) fails KeepHistory with that error, and
// the room is not made.
//
// What it costs: a process appends to one room one broadcast at a time,
// each a round trip to JetStream, so that a room's broadcasts from one
// process are bounded by that round trip (processes appending to the
// same room at once take turns, the later ones trying again); each room
// a process has attached has an ordered consumer of its own in
// JetStream. The stream's bounds are one for all the rooms of the
// Transports that share a prefix: every History over them must be the
// same (a KeepHistory with other bounds updates the stream for all).
//
// # Contexts
//
// Every method of a Transport's that talks to JetStream (KeepHistory,
// Attach with histories, Append, Read) waits as long as its ctx allows,
// and no longer: room gives each call at most 5 seconds (10 for an
// Append), ending it sooner when its caller's ctx ends, and a ctx
// without a deadline is given one here (the same 5 seconds, 10 for an
// Append). Publish does not wait for the network: NATS buffers what it
// sends. While one room waits for JetStream (its history consumer being
// made, its append), the other rooms' events and appends go on; a room's
// appends from one process go one at a time, each waiting for the one
// before it as long as its ctx allows.
//
// # Concurrency
//
// A Transport's methods are safe for concurrent use. Each attached room
// has one NATS subscription, and so one goroutine of nats.go's, which
// delivers its events in order; a Transport adds one goroutine of its
// own, for the heartbeat, which Close ends.
package natstransport
