// Package hardening holds wsmap's reliability and security tests: hostile
// handshakes and frames, faults, floods and load, and fuzzing of a live
// server, all against real servers on loopback. It has no API of its
// own; docs/security.md maps each threat to the test that shows what
// wsmap does about it.
package hardening
