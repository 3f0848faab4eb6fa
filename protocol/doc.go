// Package protocol is the DistriData wire protocol: framing, operations and
// status codes spoken between clients, daemons and storage nodes.
//
// The full specification (byte diagrams, connection flow, every opcode) is
// being written here; see the per-opcode comments in the source files.
package protocol
