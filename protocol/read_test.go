package protocol

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestReadFrame(t *testing.T) {
	stream := AppendPing(AppendPut(nil, 1, Put{Key: []byte("k"), Value: []byte("v")}), 2, []byte("hi"))
	r := bytes.NewReader(stream)
	f, err := ReadFrame(r, DefaultMaxFrameSize)
	if err != nil || f.Op != OpPut || f.ID != 1 {
		t.Fatalf("first frame %+v, %v", f.Header, err)
	}
	f, err = ReadFrame(r, DefaultMaxFrameSize)
	if err != nil || f.Op != OpPing || string(f.Body) != "hi" {
		t.Fatalf("second frame %+v %q, %v", f.Header, f.Body, err)
	}
	if _, err := ReadFrame(r, DefaultMaxFrameSize); !errors.Is(err, io.EOF) {
		t.Fatalf("after the stream: %v, want EOF", err)
	}
}

// A length prefix one byte over the limit is refused from the header
// alone: the reader never waits for (or allocates) the body.
func TestReadFrameRefusesOversizeFromHeader(t *testing.T) {
	h := AppendHeader(nil, Header{Length: 1000 - HeaderSize + 1, Op: OpPing, ID: 1})
	if _, err := ReadFrame(bytes.NewReader(h), 1000); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err %v, want ErrFrameTooLarge", err)
	}
	if _, err := ReadFrame(bytes.NewReader(AppendPing(nil, 1, nil)[:10]), 1000); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated header: %v", err)
	}
}

// Only op 0 makes a header that no reply can echo.
func TestHeaderReplyable(t *testing.T) {
	if (Header{}).Replyable() {
		t.Error("op 0 is replyable")
	}
	for _, op := range []Opcode{OpHello, OpPut, OpReplicaPut, 0x7f, 0xff} {
		if !(Header{Op: op}).Replyable() {
			t.Errorf("op %v is not replyable", op)
		}
	}
}
