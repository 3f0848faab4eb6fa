package protocol

// Magic opens every HELLO body: "DDAT" as bytes, so a stray client of some
// other protocol is recognised at once.
var Magic = [4]byte{'D', 'D', 'A', 'T'}

// Version1 is the first protocol version; ProtocolVersion is what this
// build speaks to clients. Version2 changed only the replica operations
// (the request prefix gained the ring fingerprint), so peers (daemon to
// storage node) speak PeerVersion and clients keep Version1.
const (
	Version1        uint16 = 1
	Version2        uint16 = 2
	ProtocolVersion        = Version1
	PeerVersion            = Version2
)

// Role says who is connecting. A storage node accepts only RolePeer.
type Role uint8

const (
	RoleClient Role = 0 // an application talking to a daemon
	RolePeer   Role = 1 // a daemon talking to a storage node
)

// Hello is the body of a HELLO request:
//
//	magic   [4]byte "DDAT"
//	version u16      protocol version the client speaks
//	role    u8       Role
//	token   u16 len + bytes (may be empty; at most MaxTokenSize)
type Hello struct {
	Version uint16
	Role    Role
	Token   []byte // aliases the frame
}

// AppendHello appends a whole HELLO request frame.
func AppendHello(dst []byte, id uint64, h Hello) []byte {
	dst, start := beginFrame(dst, OpHello, 0, 0, id)
	dst = append(dst, Magic[:]...)
	dst = appendU16(dst, h.Version)
	dst = appendU8(dst, uint8(h.Role))
	dst = appendBytes16(dst, start, h.Token)
	return endFrame(dst, start)
}

// DecodeHello parses a HELLO body. It checks the magic but not the version:
// the server decides which versions it accepts (ErrVersion).
func DecodeHello(body []byte) (Hello, error) {
	c := cursor{b: body}
	magic := c.take(4)
	h := Hello{Version: c.u16(), Role: Role(c.u8()), Token: c.bytes16()}
	if err := c.done(); err != nil {
		return Hello{}, err
	}
	if [4]byte(magic) != Magic {
		return Hello{}, ErrBadMagic
	}
	if len(h.Token) > MaxTokenSize {
		return Hello{}, ErrMalformed
	}
	return h, nil
}

// HelloReply is the body of a successful HELLO reply:
//
//	version    u16   protocol version the server will speak
//	server_id  u32   daemon or node ID (the Origin of versions it assigns)
//	clock      u64   the server's HLC; a peer merges it into its own clock
//	epoch      u64   the server's ring epoch
//	max_frame  u32   Limits.MaxFrameSize
//	max_key    u32   Limits.MaxKeySize
//	max_value  u32   Limits.MaxValueSize
//	max_batch  u32   Limits.MaxBatchKeys
//
// A failed HELLO gets a reply with a non-OK status and an empty body, and
// the server closes the connection.
type HelloReply struct {
	Version  uint16
	ServerID uint32
	Clock    uint64
	Epoch    uint64
	Limits   Limits // MaxPreAuthFrameSize is not sent and decodes as 0
}

// AppendHelloReply appends a whole successful HELLO reply frame.
func AppendHelloReply(dst []byte, id uint64, r HelloReply) []byte {
	dst, start := beginFrame(dst, OpHello, FlagReply, StatusOK, id)
	dst = appendU16(dst, r.Version)
	dst = appendU32(dst, r.ServerID)
	dst = appendU64(dst, r.Clock)
	dst = appendU64(dst, r.Epoch)
	dst = appendU32(dst, uint32(r.Limits.MaxFrameSize))
	dst = appendU32(dst, uint32(r.Limits.MaxKeySize))
	dst = appendU32(dst, uint32(r.Limits.MaxValueSize))
	dst = appendU32(dst, uint32(r.Limits.MaxBatchKeys))
	return endFrame(dst, start)
}

// DecodeHelloReply parses the body of a successful HELLO reply.
func DecodeHelloReply(body []byte) (HelloReply, error) {
	c := cursor{b: body}
	r := HelloReply{Version: c.u16(), ServerID: c.u32(), Clock: c.u64(), Epoch: c.u64()}
	r.Limits.MaxFrameSize = int(c.u32())
	r.Limits.MaxKeySize = int(c.u32())
	r.Limits.MaxValueSize = int(c.u32())
	r.Limits.MaxBatchKeys = int(c.u32())
	return r, c.done()
}
