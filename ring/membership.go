package ring

import (
	"fmt"
	"strconv"
	"strings"
)

// The membership text format has one node per line:
//
//	ID ADDR [zone=Z] [weight=W]
//
// '#' starts a comment; blank lines are ignored; weight defaults to 1. An
// empty address is written as "-". Tokens cannot contain whitespace or '#',
// which Node validation enforces, so every valid node list round-trips.

const noAddr = "-"

// ParseMembership parses the membership text format. It checks each line
// but leaves cross-node checks (duplicates, count) to New.
func ParseMembership(text string) ([]Node, error) {
	var nodes []Node
	for i, line := range strings.Split(text, "\n") {
		line, _, _ = strings.Cut(line, "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		n, err := parseNode(fields)
		if err != nil {
			return nil, fmt.Errorf("cannot parse membership line %d: %w", i+1, err)
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// parseNode parses the fields of one line.
func parseNode(fields []string) (Node, error) {
	if len(fields) < 2 {
		return Node{}, fmt.Errorf("want \"ID ADDR [zone=Z] [weight=W]\": %w", ErrSyntax)
	}
	n := Node{ID: fields[0], Addr: fields[1], Weight: 1}
	if n.Addr == noAddr {
		n.Addr = ""
	}
	seen := map[string]bool{}
	for _, f := range fields[2:] {
		key, val, ok := strings.Cut(f, "=")
		if !ok || seen[key] {
			return Node{}, fmt.Errorf("option %q: %w", f, ErrSyntax)
		}
		seen[key] = true
		if err := n.setOption(key, val); err != nil {
			return Node{}, err
		}
	}
	return n, n.validate()
}

func (n *Node) setOption(key, val string) error {
	switch key {
	case "zone":
		n.Zone = val
	case "weight":
		w, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return fmt.Errorf("weight %q: %w", val, ErrBadWeight)
		}
		n.Weight = w
	default:
		return fmt.Errorf("unknown option %q: %w", key, ErrSyntax)
	}
	return nil
}

// FormatMembership writes nodes in the membership text format, in the given
// order. Zone and weight are omitted when they are the defaults.
func FormatMembership(nodes []Node) string {
	var b strings.Builder
	for _, n := range nodes {
		addr := n.Addr
		if addr == "" {
			addr = noAddr
		}
		b.WriteString(n.ID + " " + addr)
		if n.Zone != "" {
			b.WriteString(" zone=" + n.Zone)
		}
		if n.Weight != 1 {
			b.WriteString(" weight=" + strconv.FormatFloat(n.Weight, 'g', -1, 64))
		}
		b.WriteByte('\n')
	}
	return b.String()
}
