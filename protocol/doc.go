// Package protocol is the DistriData wire protocol: framing, operations,
// status codes, versions and the hybrid logical clock, spoken between
// clients and daemons (client operations) and between daemons and storage
// nodes (replica operations). This comment is the specification: with it
// and the vectors in testdata/vectors, a client can be written in any
// language. Where the Go API is mentioned, it is the reference codec.
//
// # Conventions
//
// Every integer is unsigned and little-endian: u8, u16, u32, u64. Two
// length-prefixed forms are used, with no terminator and no padding:
//
//	bytes16 = len u16, then len bytes      (keys, tokens, scan cursors)
//	bytes32 = len u32, then len bytes      (values)
//
// A body must be consumed exactly: trailing bytes after the last field,
// or a length that runs past the end, make the whole frame malformed. So
// every value has exactly one encoding, and two implementations cannot
// disagree about where a body ends.
//
// Two compound fields recur:
//
//	version (12 bytes) = ts u64 | origin u32           (see Versions)
//	options  (5 bytes) = quorum u8 | deadline_ms u32   (client data requests)
//
// In options, quorum is W for PUT, DEL and MPUT and R for GET and MGET; 0
// means the daemon's default (W=2, R=2 with N=3), and a value above N is
// refused with BAD_REQUEST. deadline_ms is the time budget counted from
// the request's arrival at the daemon; 0 means the daemon's default. When
// it passes, the reply is TIMEOUT.
//
// # Frames
//
// Everything on a connection is a frame: a fixed 16-byte header, then
// length bytes of body.
//
//	 0        4     5      6       7      8                     16
//	+--------+-----+------+-------+------+----------------------+----------------+
//	| length | op  | flags| status| rsvd |          id          | body ...       |
//	|  u32   | u8  |  u8  |  u8   |  u8  |         u64          | length bytes   |
//	+--------+-----+------+-------+------+----------------------+----------------+
//
//	length  body size in bytes, header not included
//	op      the operation (Opcodes); 0x00 is never valid, so zeroes are not a frame
//	flags   bit 0 REPLY (0x01), bit 1 COMPRESSED (0x02), bit 2 CHECKSUM (0x04);
//	        bits 3-7 must be 0
//	status  replies: the result (Statuses); requests: 0 (receivers ignore it)
//	rsvd    must be 0
//	id      chosen by the requester, echoed unchanged in the reply
//
// A reply carries the request's op and id with REPLY set. A receiver
// checks the header before it reads the body (DecodeHeader): a nonzero
// reserved byte, an unknown flag bit or op 0 is malformed, and a frame
// whose 16+length exceeds the receiver's limit is too large. Both are
// decided from the 16 header bytes alone, so a 4 GiB length prefix is
// refused without buffering anything. Decode splits frames from a byte
// stream and answers ErrIncomplete (consume nothing, read more) until a
// whole frame is buffered; any split of a stream yields the same frames.
//
// # Connection flow
//
// The client opens a TCP connection and sends HELLO as its first frame.
// Until the server's HELLO reply says OK:
//
//   - every frame, HELLO included, is held to the pre-authentication
//     limit (MaxPreAuthFrameSize, default 1 KiB, header included) instead of
//     MaxFrameSize. A stranger cannot make the server buffer more than that;
//   - any other op is answered UNAUTHORIZED and the connection closed. The
//     daemon also answers PING before HELLO (for health checks); storage
//     nodes do not. Clients must not rely on it.
//
// A failed HELLO (bad magic or version: BAD_REQUEST; wrong role:
// BAD_REQUEST; missing or wrong token: UNAUTHORIZED) is answered with that
// status and an empty body, then the server closes. On success the reply
// carries the version both sides will speak, the server's ID and clock,
// its ring epoch and its limits, which the client must stay within.
//
// After HELLO the client may pipeline: send many requests without waiting,
// each with its own id. The server may process them concurrently and
// replies in completion order, not request order; the client matches each
// reply to its request by id, so ids must be unique among the
// connection's requests in flight. No order holds between two requests
// whose replies are both outstanding, even on the same key: to order two
// operations, wait for the first reply before sending the second.
//
// What a server does with bad input depends on whether it can still trust
// the stream:
//
//   - malformed header (reserved byte, unknown flag, op 0), a REPLY-flagged
//     request, a malformed body, a checksum mismatch or a corrupt compressed
//     block: reply BAD_REQUEST, then close. After a malformed frame the
//     stream cannot be trusted.
//   - length prefix over the limit (16+length > MaxFrameSize, or the
//     pre-auth limit): reply TOO_LARGE, then close, without reading the
//     body. The reply echoes the op and id read from the header.
//   - op 0, whatever else is wrong with the frame: close at once, with no
//     reply. A reply echoes its request's op, and op 0 is never a valid
//     frame, so there is nothing a client could decode; it sees the
//     connection close and fails its requests in flight.
//   - a well-framed frame with an op this server does not define: the
//     daemon replies BAD_REQUEST and keeps the connection (the frame was
//     skipped whole, which is what lets old servers meet new clients); a
//     storage node replies BAD_REQUEST and closes.
//   - a well-formed request with a field over its limit (key, value, batch
//     count): reply TOO_LARGE, or BAD_REQUEST for an empty key or a batch
//     of zero items (the daemon closes on an empty batch, as malformed),
//     and carry on. Nothing of the request is applied.
//   - overload: BUSY before any work; safe to retry. A daemon at its
//     connection limit (or draining) refuses a new connection before
//     reading from it: it sends a HELLO reply with id 0 and status BUSY,
//     then closes. Clients must read that as the answer to their HELLO.
//
// Closing a connection fails every request in flight on it; their
// outcome is unknown unless a reply arrived.
//
// # Opcodes
//
// Numbers are append-only: a released opcode or status keeps its number
// and meaning forever; new ones take unused numbers; 0x00 stays invalid.
//
//	client ops (client ↔ daemon)     replica ops (daemon ↔ storage node)
//	0x01 HELLO   0x05 DEL            0x20 RPUT     0x24 RSCAN     0x28 RBUCKETS
//	0x02 PING    0x06 STATS          0x21 RGET     0x25 RDIGEST   0x29 RBSCAN
//	0x03 PUT     0x07 MPUT           0x22 RDEL     0x26 REPOCH
//	0x04 GET     0x08 MGET           0x23 RBATCH   0x27 RDROP
//
// Any reply may come back with a non-OK status and an empty body: the
// request was refused before it was processed (e.g. TOO_LARGE, BUSY,
// UNAVAILABLE, WRONG_EPOCH). Receivers must accept that for every op. The
// layouts below are for the bodies that carry data.
//
// HELLO 0x01 (Hello, HelloReply). Request, 9 bytes plus the token:
//
//	magic    4 bytes  "DDAT" (0x44 0x44 0x41 0x54)
//	version  u16      protocol version the client speaks: 1 for clients;
//	                  2 for peers (see Protocol versions)
//	role     u8       0 = client (to a daemon), 1 = peer (a daemon to a node)
//	token    bytes16  auth token, may be empty, at most 512 bytes
//
// OK reply, 38 bytes:
//
//	version     u16  version the server will speak (the daemon answers
//	                 min(client's, its own); a node requires exactly 2)
//	server_id   u32  the server's ID: the origin of versions a daemon assigns
//	clock       u64  the server's HLC timestamp; merge it into your clock
//	epoch       u64  the server's ring epoch
//	max_frame   u32  MaxFrameSize, header included
//	max_key     u32  MaxKeySize
//	max_value   u32  MaxValueSize
//	max_batch   u32  MaxBatchKeys
//
// PING 0x02: any bytes; the OK reply echoes them. STATS 0x06: empty
// request body; the OK reply is UTF-8 text, one "name value" pair per line.
//
// PUT 0x03 (Put) stores a value; GET 0x04 and DEL 0x05 (KeyRequest) read
// and delete one:
//
//	PUT request    options | key bytes16 | value bytes32
//	GET request    options | key bytes16
//	DEL request    options | key bytes16
//	PUT/DEL reply  version                    (WriteReply)
//	GET reply      version | value bytes32    (GetReply)
//
// Keys are 1..MaxKeySize bytes. A PUT or DEL reply carries the version the
// daemon assigned, whatever the status (zero if it assigned none). A DEL
// writes a tombstone with a version: it orders against PUTs by version like
// any write. A GET reply is OK with the newest value and its version, or
// NOT_FOUND with an empty value and the version of the tombstone (zero if
// the key was never written).
//
// MPUT 0x07 and MGET 0x08 (Batch) carry up to MaxBatchKeys keys:
//
//	MPUT request  options | count u16 | count × (key bytes16 | value bytes32)
//	MGET request  options | count u16 | count × (key bytes16)
//	MPUT reply    count u16 | count × (status u8 | version)
//	MGET reply    count u16 | count × (status u8 | version | value bytes32)
//
// A batch reply has header status OK whenever the batch was processed and
// one result per key in request order, each with its own status (PUT or GET
// semantics). A non-OK header status means the whole batch was refused and
// nothing of it applied: one key over its limits refuses the batch. In an
// MGET reply, a key whose value would push the reply past MaxFrameSize is
// answered TOO_LARGE with an empty value; read it alone with GET.
//
// Replica operations carry explicit versions, partitions and epochs. Every
// request body starts with a 20-byte prefix, every data reply body with a
// 16-byte stamp:
//
//	prefix  epoch u64 | ring u64 | deadline_ms u32
//	        the sender's ring epoch; that ring's fingerprint (ring.Ring.Hash:
//	        partitions, N and membership with addresses; 0 = unknown); the
//	        remaining budget from arrival at the node (0 = node default)
//	stamp   clock u64 | epoch u64         node's HLC after the request; the ring
//	                                      epoch the node has committed (REPOCH)
//
// Both sides merge the other's clock on every message. Fencing: once a
// node has committed epoch E with fingerprint F (REPOCH, kept durably), it
// refuses with WRONG_EPOCH, applying nothing, every replica request whose
// prefix epoch is below E, and every request at epoch E whose ring is
// neither F nor 0: two daemons loaded with different memberships build
// different rings at one epoch, and only the committed one may route
// requests. A ring of 0 means "unknown" and is fenced by epoch alone; only
// tools that have no ring may send it (the daemon and its repairs always
// send their ring's). Until the first REPOCH (E = 0) a node serves every
// request. A refused RPUT, RDEL or RGET is answered stamp | result with
// status WRONG_EPOCH; a refused RBATCH is header OK with every result
// WRONG_EPOCH; both carry the stamp, so the sender learns E. RSCAN,
// RDIGEST, RBUCKETS and RBSCAN are refused with an empty body. A prefix
// epoch above E is served, whatever its ring: the sender is moving data to
// a ring no node has committed yet. An item is one key operation (Item), a
// result is one item's answer (Result):
//
//	item    kind u8 | partition u32 | [version] | key bytes16 | [value bytes32]
//	        kind 1 = PUT (version and value present), 2 = DEL (version only),
//	        3 = GET (neither); any other kind is malformed
//	result  status u8 | flags u8 | version | value bytes32
//	        flags bit 0 TOMBSTONE: the stored version is a delete
//
// partition is the key's ring partition; the node stores the key under it.
// In a result, version is what is now stored: for a write, the item's own
// if applied (OK), or the newer one that beat it (SUPERSEDED); for a read,
// the stored version. value is present only in OK answers to GET items
// (length 0 otherwise). Writes apply only if their version is newer than
// the stored one (last writer wins); an equal version is not re-applied.
//
//	RPUT 0x20, RGET 0x21, RDEL 0x22  request: prefix | item (kind must match the op)
//	                                 reply:   stamp | result (header status = result status)
//	RBATCH 0x23                      request: prefix | count u16 | count × item (any kinds)
//	                                 reply:   stamp | count u16 | count × result, in order;
//	                                          header status OK
//	RSCAN 0x24    request: prefix | partition u32 | after bytes16 | limit u16 | with_values u8
//	              reply:   stamp | more u8 | count u16 |
//	                       count × (key bytes16 | flags u8 | version | value bytes32)
//	RDIGEST 0x25  request: prefix | partition u32
//	              reply:   stamp | keys u64 | digest u64
//
// RSCAN pages through one partition in key order, starting after the key
// in after (exclusive; empty = from the start), returning up to limit keys
// (0 = node default). Tombstones are included (flags bit 0). with_values
// and more are 0 or 1, anything else is malformed; values are sent only if
// with_values is 1. A page stops early rather than exceed the frame limit,
// and more = 1 says another page follows: continue after the last key.
// RDIGEST summarises a partition as its number of entries (live keys plus
// tombstones) and an order-independent digest over (key, version,
// tombstone). The digest is defined by the node (today: the wrapping sum,
// over entries, of xxh3 of the 13-byte record header ts|origin|tombstone
// seeded with xxh3 of the key); it is for comparing replicas of one
// cluster, not a wire-level invariant.
//
//	REPOCH 0x26   request: prefix
//	              reply:   stamp | ring u64   (OK or WRONG_EPOCH, both with the body)
//	RDROP 0x27    request: prefix | partition u32
//	              reply:   stamp | keys u64   (OK or WRONG_EPOCH, both with the body)
//
// REPOCH commits the prefix's epoch and ring: a daemon sends it to every
// node once the data of a ring change has moved. (In protocol version 1
// the ring followed the prefix; it is the prefix's now.) An epoch above
// the node's is made durable before the OK; the same epoch with the same
// ring is an idempotent OK; a lower epoch, or the same epoch with a
// different ring, is WRONG_EPOCH and changes nothing. The reply's stamp epoch and ring are the node's
// committed ones after the request (ring 0 if none), so REPOCH with
// epoch 0 asks a node what it has committed without changing it.
//
// RDROP removes every entry of a partition (tombstones too) from a node
// that the sender's ring no longer places it on, and answers how many it
// removed. The node cannot check ownership, only that the sender's ring is
// the current one: it refuses with WRONG_EPOCH, removing nothing, unless
// the prefix epoch and ring equal its committed ones (ring 0 is refused
// here) and no request with a higher epoch (a ring change in progress)
// has reached it since that commit (the highest epoch seen is kept
// durably with the committed one).
// The check and the removal are atomic with respect to writes.
//
//	RBUCKETS 0x28 request: prefix | partition u32 | bucket | split u8
//	              reply:   stamp | count u16 | count × (keys u64 | digest u64)
//	RBSCAN 0x29   request: prefix | partition u32 | bucket | after bytes16 | limit u16 | with_values u8
//	              reply:   as RSCAN's
//	bucket        hash_prefix u64 | bits u8
//
// RBUCKETS and RBSCAN (added after RDIGEST; a node that predates them
// answers BAD_REQUEST and closes, so upgrade storage nodes before the
// daemons that repair them) narrow a digest mismatch down to the keys that
// differ. A bucket is the set of a partition's keys whose KeyHash — XXH3
// 64-bit, seed 0, of the key bytes — starts with the bits high bits given
// as hash_prefix (right-aligned: hash_prefix < 2^bits, bits ≤ 64; bits 0
// is the whole partition). Every node of a cluster must cut buckets with
// this hash: it is a wire-level invariant, unlike the digest. RBUCKETS
// splits a bucket 2^split ways by the next split hash bits (1 ≤ split ≤ 10,
// bits + split ≤ 64) and answers count = 2^split (keys, digest) pairs in
// sub-bucket order, each computed like RDIGEST's over that sub-bucket's
// entries, so the pairs of one reply sum (wrapping) to the bucket's. A
// reply that would not fit the node's frame limit is refused TOO_LARGE.
// RBSCAN is RSCAN over one bucket's entries only (same order, paging and
// reply layout); its bits must be at least 1, since a whole partition is
// an RSCAN. A bucket out of these bounds is malformed.
//
// # Protocol versions
//
// Version 1 is the first. Version 2 changed the replica operations only:
// the request prefix gained the ring fingerprint (12 bytes became 20) and
// REPOCH lost its separate ring field. Clients still speak 1 to daemons;
// a daemon speaks 2 to storage nodes as a peer, and a node refuses any
// other peer version with BAD_REQUEST at HELLO (it cannot parse a version
// 1 prefix), so a mixed pair fails at connect time, never by misreading a
// request. Upgrade storage nodes and the daemons that reach them together
// (see the README's upgrade order).
//
// # Statuses
//
// The status byte of a reply. Each status belongs to one outcome class,
// the one thing a caller must branch on (Status.Outcome):
//
//	 0 OK            ok       done (for reads: answered)
//	 1 NOT_FOUND     ok       no live value: never written, or deleted
//	 2 BAD_REQUEST   failed   malformed frame or field; nothing applied
//	 3 TOO_LARGE     failed   a frame, key, value or batch over its limit; nothing applied
//	 4 BUSY          failed   shed under load before any work; retry later
//	 5 UNAVAILABLE   failed   too few replicas up to try; nothing was sent
//	 6 TIMEOUT       unknown  the deadline passed; the write may or may not be applied
//	 7 PARTIAL       unknown  fewer than W replicas acknowledged; may be applied
//	 8 UNAUTHORIZED  failed   HELLO missing first, or a wrong token
//	 9 WRONG_EPOCH   failed   the sender's ring is stale, or another ring at the
//	                          node's epoch; nothing applied
//	10 INTERNAL      unknown  a server fault (e.g. disk); outcome unknown
//	11 SUPERSEDED    ok       replica write: a newer version is stored (lost by LWW)
//
// failed means definitely applied nowhere: safe to retry as is. unknown
// means it may have been applied on some replicas: a write that reached
// some replicas but fewer than W is PARTIAL, never failed. A status this
// version does not know is unknown. In Go, errors become statuses only
// through StatusOf, and sentinels made with NewError carry their status.
//
// # Versions and the clock
//
// A version orders the writes of one key; the newer version wins.
//
//	ts      u64  hybrid logical clock: (Unix wall time in ms << 16) | logical counter (16 bits)
//	origin  u32  ID of the daemon that assigned ts; breaks ties between daemons
//
// Versions compare by ts, then by origin; all zero means "never written".
// A clock (Clock) issues ts = max(wall_ms << 16, last + 1), so it never
// repeats or goes back even when the wall clock does, and stays near real
// time (operators can read it; tombstone grace periods use it). Every
// stamp, HELLO reply clock and stored version a peer sees is merged into
// the local clock (last = max(last, seen)), so a lagging clock catches up.
//
// The merge has no drift bound: a timestamp from any distance in the
// future is taken. Clamping it would be unsafe: a node stores the
// versions it is sent whatever its clock says, and a restarted daemon
// seeds its clock from the nodes' clocks, so a node clock held below a
// stored version would let the new daemon issue versions that lose to
// writes it acknowledged before. Refusing such frames would trade
// availability for nothing the order needs. The cost of a peer running
// ahead is that timestamps stay ahead of real time (advancing by the
// logical counter, 65,536 per ms) until the wall clock catches up, and
// that tombstones written meanwhile are collected that much later.
// Clock.Lead reports the gap (the daemon's STATS clock_lead_ms) so a
// runaway clock is seen, not silently followed.
//
// # Compression and integrity
//
// Any frame may be sealed (Seal) by its sender; receivers open it (Open)
// before decoding the body. Only the body is transformed; the header's
// length is the size as sent.
//
//	CHECKSUM (0x04)    the last 4 body bytes are a CRC-32C (Castagnoli),
//	                   u32 little-endian, of the body bytes before them as sent
//	COMPRESSED (0x02)  the body (minus any checksum trailer) is one S2 block
//	                   (github.com/klauspost/compress/s2, a superset of the
//	                   Snappy block format: uvarint decoded length, then data)
//
// A compressed body always carries a checksum, since S2 blocks have none.
// The receiver verifies the checksum first, over the bytes as sent, then
// checks the block's declared length against its frame limit (TOO_LARGE
// if over, decided before allocating), then decompresses. The Go sender
// compresses bodies of 4 KiB and more when that makes them smaller, and
// checksums bodies of 64 KiB and more even when not compressed
// (DefaultSealOptions). Clients and link connections seal requests today;
// daemons and nodes send plain replies (there is no HELLO capability for
// compressed replies yet), but a receiver should accept both flags on any
// frame. A Snappy block encoder produces valid S2 blocks.
//
// # Limits
//
// Receivers enforce limits on what they accept (Limits); the HELLO reply
// advertises them. Defaults:
//
//	MaxFrameSize         16 MiB  header included; at most 1 GiB
//	MaxPreAuthFrameSize   1 KiB  header included, until HELLO succeeds; at least 80 B
//	MaxKeySize            1 KiB  at most 65535 (bytes16)
//	MaxValueSize          8 MiB  must fit in MaxFrameSize with its key
//	MaxBatchKeys           1024  items per MPUT, MGET or RBATCH; at most 65535
//	token                 512 B  fixed (MaxTokenSize)
//
// # The Go codec
//
// Encoders append a whole frame to dst and return it (AppendPut(dst, id,
// p)); batch replies and replica batches are built item by item with a
// writer (BeginBatchReply, BeginReplicaBatch, ...). Decoders take a body
// and return the value and an error; every decoded []byte aliases the
// input, valid only until that buffer is reused: copy what must outlive
// it. Batch bodies are validated whole at decode time, so their Next
// methods cannot fail. Neither encoding into a buffer with room, nor
// decoding, nor opening a plain frame allocates. Encoders do not check
// limits (call Limits.CheckKey and friends first); a u16-length field over
// 65535 bytes poisons the frame's reserved byte, so a peer refuses it
// rather than misreading it.
package protocol
