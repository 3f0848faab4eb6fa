package protocol

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/s2"
)

func compressible(n int) []byte { return bytes.Repeat([]byte("distridata replicates "), n/22+1)[:n] }

func incompressible(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(b)
	return b
}

// sealOpen seals frame, decodes the result and opens it.
func sealOpen(t *testing.T, frame []byte, o SealOptions) (Frame, []byte) {
	t.Helper()
	sealed := Seal(nil, frame, o)
	f, n, err := Decode(sealed, 1<<30)
	if err != nil || n != len(sealed) {
		t.Fatalf("Decode(sealed) n %d/%d: %v", n, len(sealed), err)
	}
	body, err := f.Open(nil, 1<<30)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return f, body
}

func TestSealOpen(t *testing.T) {
	def := DefaultSealOptions()
	tests := []struct {
		name      string
		value     []byte
		opts      SealOptions
		wantFlags Flags
	}{
		{"64KiB compressible default", compressible(64 << 10), def, FlagCompressed | FlagChecksum},
		{"4KiB compressible default", compressible(4 << 10), def, FlagCompressed | FlagChecksum},
		{"100B under thresholds", compressible(100), def, 0},
		{"64KiB incompressible default", incompressible(64 << 10), def, FlagChecksum},
		{"8KiB incompressible default", incompressible(8 << 10), def, 0},
		{"compressible checksum only", compressible(8 << 10), SealOptions{ChecksumAbove: 1}, FlagChecksum},
		{"compressible zero options", compressible(8 << 10), SealOptions{}, 0},
		{"empty value compress always", nil, SealOptions{CompressAbove: 1, ChecksumAbove: 1}, FlagChecksum},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plain := AppendPut(nil, 7, Put{Key: []byte("k"), Value: tc.value})
			f, body := sealOpen(t, plain, tc.opts)
			if f.Flags != tc.wantFlags {
				t.Fatalf("flags %s, want %s", flagNames(f.Flags), flagNames(tc.wantFlags))
			}
			if !bytes.Equal(body, plain[HeaderSize:]) {
				t.Fatal("opened body differs from the plain body")
			}
			if f.Op != OpPut || f.ID != 7 {
				t.Fatalf("header changed: %+v", f.Header)
			}
			if tc.wantFlags&FlagCompressed != 0 && len(f.Body) >= len(body) {
				t.Fatalf("compressed body %d B not smaller than plain %d B", len(f.Body), len(body))
			}
			if tc.wantFlags == 0 && !bytes.Equal(Seal(nil, plain, tc.opts), plain) {
				t.Fatal("a frame left plain is not byte-identical")
			}
		})
	}
}

func TestSealKeepsReplyFlagAndAppends(t *testing.T) {
	plain := AppendGetReply(nil, 3, StatusOK, GetReply{vecV, compressible(16 << 10)})
	prefix := []byte("earlier frames")
	sealed := Seal(bytes.Clone(prefix), plain, DefaultSealOptions())
	if !bytes.HasPrefix(sealed, prefix) {
		t.Fatal("Seal overwrote dst")
	}
	f, _, err := Decode(sealed[len(prefix):], 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if f.Flags != FlagReply|FlagCompressed|FlagChecksum || f.Status != StatusOK {
		t.Fatalf("flags %s status %s", flagNames(f.Flags), f.Status)
	}
	body, err := f.Open(nil, 1<<20)
	if err != nil || !bytes.Equal(body, plain[HeaderSize:]) {
		t.Fatalf("Open: %v", err)
	}
}

// TestOpenChecksumMismatch flips one bit at every position of a sealed
// body, compressed or not, trailer included: Open must refuse each.
func TestOpenChecksumMismatch(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value []byte
	}{{"compressed", compressible(8 << 10)}, {"plain", incompressible(64 << 10)}} {
		t.Run(tc.name, func(t *testing.T) {
			sealed := Seal(nil, AppendPut(nil, 1, Put{Key: []byte("k"), Value: tc.value}), DefaultSealOptions())
			f, _, _ := Decode(sealed, 1<<30)
			step := max(1, len(f.Body)/500) // every byte of small bodies, a spread of large ones
			for i := 0; i < len(f.Body); i += step {
				body := bytes.Clone(f.Body)
				body[i] ^= 1 << (i % 8)
				bad := Frame{Header: f.Header, Body: body}
				if _, err := bad.Open(nil, 1<<30); !errors.Is(err, ErrChecksum) {
					t.Fatalf("bit flipped at %d of %d: %v, want ErrChecksum", i, len(body), err)
				}
			}
		})
	}
}

func TestOpenSizeLimit(t *testing.T) {
	plain := AppendPut(nil, 1, Put{Key: []byte("k"), Value: compressible(32 << 10)})
	bodyLen := len(plain) - HeaderSize
	sealed := Seal(nil, plain, DefaultSealOptions())
	f, _, _ := Decode(sealed, 1<<30)
	if f.Flags&FlagCompressed == 0 {
		t.Fatal("test frame did not compress")
	}
	if _, err := f.Open(nil, bodyLen); err != nil {
		t.Fatalf("maxBody = decompressed size: %v", err)
	}
	if _, err := f.Open(nil, bodyLen-1); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("maxBody one under decompressed size: %v, want ErrFrameTooLarge", err)
	}
	// A forged size prefix (a tiny block claiming 1 GiB) is refused from
	// the prefix alone, before any buffer is allocated.
	bomb := append(s2.Encode(nil, []byte("x"))[:0:0], 0x80, 0x80, 0x80, 0x80, 0x04)
	bombFrame := Frame{Header: Header{Op: OpPut, Flags: FlagCompressed}, Body: bomb}
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := bombFrame.Open(nil, DefaultMaxFrameSize); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("1 GiB claim: %v", err)
		}
	})
	if allocs != 0 {
		t.Fatalf("refusing a 1 GiB claim allocated %v times", allocs)
	}
}

func TestOpenMalformed(t *testing.T) {
	tests := []struct {
		name  string
		flags Flags
		body  []byte
		want  error
	}{
		{"checksum flag body 0 bytes", FlagChecksum, nil, ErrMalformed},
		{"checksum flag body 3 bytes", FlagChecksum, []byte{1, 2, 3}, ErrMalformed},
		{"checksum of empty body", FlagChecksum, []byte{0, 0, 0, 0}, nil},
		{"compressed garbage", FlagCompressed, []byte{5, 0xFF, 0xFF}, ErrMalformed},
		{"compressed empty", FlagCompressed, nil, ErrMalformed},
		{"compressed truncated", FlagCompressed, s2.Encode(nil, compressible(1000))[:20], ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := Frame{Header: Header{Op: OpPut, Flags: tc.flags}, Body: tc.body}
			if _, err := f.Open(nil, 1<<20); !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestOpenReusesScratch(t *testing.T) {
	plain := AppendPut(nil, 1, Put{Key: []byte("k"), Value: compressible(16 << 10)})
	f, _, _ := Decode(Seal(nil, plain, DefaultSealOptions()), 1<<30)
	scratch := make([]byte, 0, 32<<10)
	body, err := f.Open(scratch, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if &body[0] != &scratch[:1][0] {
		t.Fatal("Open did not decompress into the scratch buffer it was given")
	}
	small := make([]byte, 0, 10)
	if body, err = f.Open(small, 1<<20); err != nil || !bytes.Equal(body, plain[HeaderSize:]) {
		t.Fatalf("Open with a small scratch: %v", err)
	}
}

// TestOpenPlainIsIdentity: a plain frame's body is returned as is, so the
// fast path neither copies nor allocates.
func TestOpenPlainIsIdentity(t *testing.T) {
	frame := AppendPut(nil, 1, Put{Key: []byte("k"), Value: []byte("v")})
	f, _, _ := Decode(frame, 1<<20)
	body, err := f.Open(nil, 0)
	if err != nil || &body[0] != &f.Body[0] || len(body) != len(f.Body) {
		t.Fatalf("Open on a plain frame did not return Body itself: %v", err)
	}
}
