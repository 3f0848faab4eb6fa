package protocol

import (
	"fmt"
	"hash/crc32"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// describe renders the meaning of one whole frame as indented text, one
// field per line in wire order. It is what the golden vectors print under
// "decoded:", and what their test recomputes from the hex alone.
func describe(frame []byte) (string, error) {
	f, n, err := Decode(frame, 1<<30)
	if err != nil {
		return "", fmt.Errorf("cannot decode frame: %w", err)
	}
	if n != len(frame) {
		return "", fmt.Errorf("frame is %d bytes, vector has %d", n, len(frame))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "header: length=%d op=%s(0x%02x) flags=%s status=%s(%d) id=%d\n",
		f.Length, f.Op, uint8(f.Op), flagNames(f.Flags), f.Status, uint8(f.Status), f.ID)
	body, err := f.Open(nil, 1<<30)
	if err != nil {
		return "", fmt.Errorf("cannot open body: %w", err)
	}
	if f.Flags&(FlagChecksum|FlagCompressed) != 0 {
		describeSeal(&sb, f, body)
	}
	v, err := decodeBody(f.Header, body)
	if err != nil {
		return "", fmt.Errorf("cannot decode %s body: %w", f.Op, err)
	}
	fmt.Fprintf(&sb, "body: %s\n", typeLabel(v))
	d := describer{sb: &sb, op: f.Op}
	d.value("  ", reflect.ValueOf(v))
	return sb.String(), nil
}

func describeSeal(sb *strings.Builder, f Frame, body []byte) {
	sent := len(f.Body)
	if f.Flags&FlagChecksum != 0 {
		sum := le.Uint32(f.Body[sent-4:])
		fmt.Fprintf(sb, "seal: crc32c=0x%08x over the first %d body bytes (as sent)\n", sum, sent-4)
		if crc32.Checksum(f.Body[:sent-4], castagnoli) != sum {
			panic("describe: Open accepted a bad checksum")
		}
		sent -= 4
	}
	if f.Flags&FlagCompressed != 0 {
		fmt.Fprintf(sb, "seal: S2 block of %d bytes decompresses to a %d-byte body\n", sent, len(body))
	}
}

func flagNames(fl Flags) string {
	if fl == 0 {
		return "0"
	}
	var names []string
	for _, n := range []struct {
		f    Flags
		name string
	}{{FlagReply, "REPLY"}, {FlagCompressed, "COMPRESSED"}, {FlagChecksum, "CHECKSUM"}} {
		if fl&n.f != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, "|")
}

// typeLabel names a decoded body by the Go type a client would use.
func typeLabel(v any) string {
	labels := map[string]string{
		"emptyBody": "(empty)", "rawBody": "raw bytes",
		"mputBody": "MPUT items", "mgetBody": "MGET keys",
		"batchReplyBody": "batch results", "replicaOpBody": "replica header + item",
		"replicaBatchBody": "replica header + items", "replicaReplyBody": "stamp + result",
		"replicaBatchReplyBody": "stamp + results", "scanReplyBody": "stamp + scan page",
		"bucketsReplyBody": "stamp + bucket digests",
	}
	name := reflect.TypeOf(v).Name()
	if l, ok := labels[name]; ok {
		return l
	}
	return name
}

var (
	bytesType   = reflect.TypeFor[[]byte]()
	rawType     = reflect.TypeFor[rawBody]()
	versionType = reflect.TypeFor[Version]()
)

// describer prints v's fields one per line; embedded structs are
// flattened so fields appear in wire order under their own names. Fields
// that the wire does not carry for this op or item kind are left out.
type describer struct {
	sb *strings.Builder
	op Opcode
}

func (d describer) value(indent string, v reflect.Value) {
	if v.Kind() != reflect.Struct || v.Type() == versionType {
		d.field(indent, "value", v)
		return
	}
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		switch {
		case d.absent(v, sf.Name):
		case sf.Anonymous:
			d.value(indent, v.Field(i))
		default:
			d.field(indent, sf.Name, v.Field(i))
		}
	}
}

// absent reports a struct field that has no bytes on the wire here.
func (d describer) absent(v reflect.Value, name string) bool {
	switch x := v.Interface().(type) {
	case Item:
		return (name == "Version" && x.Kind == ItemGet) || (name == "Value" && x.Kind != ItemPut)
	case ItemStatus:
		return name == "Value" && d.op == OpMPut
	case Limits:
		return name == "MaxPreAuthFrameSize"
	case Scan:
		return name == "Bucket" && d.op == OpReplicaScan
	}
	return false
}

func (d describer) field(indent, name string, v reflect.Value) {
	sb := d.sb
	switch {
	case v.Kind() == reflect.Slice && v.Type() != bytesType && v.Type() != rawType:
		fmt.Fprintf(sb, "%s%s: %d\n", indent, name, v.Len())
		for i := range v.Len() {
			if v.Index(i).Kind() == reflect.Struct {
				fmt.Fprintf(sb, "%s  [%d]\n", indent, i)
				d.value(indent+"    ", v.Index(i))
			} else {
				fmt.Fprintf(sb, "%s  [%d] %s\n", indent, i, scalar(v.Index(i)))
			}
		}
	case v.Kind() == reflect.Struct && v.Type() != versionType:
		fmt.Fprintf(sb, "%s%s:\n", indent, name)
		d.value(indent+"  ", v)
	case name == "Clock":
		fmt.Fprintf(sb, "%s%s: %s\n", indent, name, hlcText(v.Uint()))
	default:
		fmt.Fprintf(sb, "%s%s: %s\n", indent, name, scalar(v))
	}
}

func scalar(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case []byte:
		return quoteBytes(x)
	case rawBody:
		return quoteBytes(x)
	case Version:
		return versionText(x)
	case Status:
		return fmt.Sprintf("%s(%d)", x, uint8(x))
	case ItemKind:
		return map[ItemKind]string{ItemPut: "PUT(1)", ItemDel: "DEL(2)", ItemGet: "GET(3)"}[x]
	case ResultFlags:
		if x == ResultTombstone {
			return "TOMBSTONE(1)"
		}
		return strconv.Itoa(int(x))
	case Role:
		return map[Role]string{RoleClient: "CLIENT(0)", RolePeer: "PEER(1)"}[x]
	}
	return fmt.Sprint(v.Interface())
}

// quoteBytes shows printable bytes as a Go string, others as hex; long
// values are cut to their first 32 bytes plus the length.
func quoteBytes(b []byte) string {
	const show = 32
	cut := b
	if len(cut) > show {
		cut = cut[:show]
	}
	s := ""
	if utf8.Valid(cut) && strconv.CanBackquote(string(cut)) {
		s = strconv.Quote(string(cut))
	} else {
		s = fmt.Sprintf("0x%x", cut)
	}
	if len(b) > show {
		s += "..."
	}
	s += fmt.Sprintf(" (len %d)", len(b))
	return s
}

func versionText(v Version) string {
	if v.IsZero() {
		return "zero"
	}
	return fmt.Sprintf("ts=%s origin=%d", hlcText(v.TS), v.Origin)
}

// hlcText shows an HLC timestamp with its wall and logical parts.
func hlcText(ts uint64) string {
	wall := time.UnixMilli(int64(ts >> LogicalBits)).UTC().Format(time.RFC3339Nano)
	logical := ts & (1<<LogicalBits - 1)
	return fmt.Sprintf("0x%016x (wall %s, logical %d)", ts, wall, logical)
}
