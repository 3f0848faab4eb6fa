package ring

import (
	"errors"
	"slices"
	"testing"
)

func TestParseMembership(t *testing.T) {
	text := `
# a comment line
n1 10.0.0.1:7000              # trailing comment
n2 10.0.0.2:7000 zone=b weight=2.5
n3 -   weight=0.25   zone=c
`
	got, err := ParseMembership(text)
	if err != nil {
		t.Fatal(err)
	}
	want := []Node{
		{ID: "n1", Addr: "10.0.0.1:7000", Weight: 1},
		{ID: "n2", Addr: "10.0.0.2:7000", Zone: "b", Weight: 2.5},
		{ID: "n3", Zone: "c", Weight: 0.25},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	again, err := ParseMembership(FormatMembership(got))
	if err != nil || !slices.Equal(again, want) {
		t.Fatalf("round trip: %+v, %v", again, err)
	}
}

func TestParseMembershipErrors(t *testing.T) {
	cases := map[string]error{
		"n1":                     ErrSyntax,
		"n1 a:1 color=red":       ErrSyntax,
		"n1 a:1 zone":            ErrSyntax,
		"n1 a:1 zone=a zone=b":   ErrSyntax,
		"n1 a:1 weight=0":        ErrBadWeight,
		"n1 a:1 weight=-3":       ErrBadWeight,
		"n1 a:1 weight=NaN":      ErrBadWeight,
		"n1 a:1 weight=Inf":      ErrBadWeight,
		"n1 a:1 weight=heavy":    ErrBadWeight,
		"ok a:1\nn1 a:1 weight=": ErrBadWeight,
	}
	for text, want := range cases {
		if _, err := ParseMembership(text); !errors.Is(err, want) {
			t.Errorf("ParseMembership(%q) = %v, want %v", text, err, want)
		}
	}
}
