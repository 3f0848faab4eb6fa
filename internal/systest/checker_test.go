package systest

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The checkers' self-tests: each anomaly a real run could hide behind
// must make its checker fail, and a clean history must pass, so neither
// a pass nor a failure of the battery is vacuous.

const ms = int64(time.Millisecond)

func put(w int, key, val string, call, ret int64, o Outcome) Op {
	return Op{Worker: w, Kind: Put, Key: key, Value: ValueFor(key, val, 0), Call: call * ms, Return: ret * ms, Outcome: o}
}

func get(w int, key, val string, call, ret int64) Op {
	op := Op{Worker: w, Kind: Get, Key: key, Call: call * ms, Return: ret * ms, Outcome: OK}
	if val == "" {
		op.Outcome = NotFound
	} else {
		op.Value = ValueFor(key, val, 0)
	}
	return op
}

func del(w int, key string, call, ret int64) Op {
	return Op{Worker: w, Kind: Del, Key: key, Call: call * ms, Return: ret * ms, Outcome: OK}
}

// unknown marks an op as History.Add would record an unknown outcome.
func unknown(op Op) Op {
	op.Outcome, op.Return = Unknown, Infinity
	return op
}

func mapReader(m map[string]string) Reader {
	return func(k string) (string, bool, error) { v, ok := m[k]; return v, ok, nil }
}

func TestCheckSetCatchesLostWrite(t *testing.T) {
	ops := []Op{put(0, "a", "1", 0, 1, OK), put(1, "b", "2", 0, 1, OK), put(2, "c", "3", 0, 1, Unknown)}
	store := map[string]string{"a": ValueFor("a", "1", 0), "b": ValueFor("b", "2", 0)}
	if r := CheckSet(ops, mapReader(store)); !r.OK() || r.Acked != 2 || r.Unknown != 1 {
		t.Fatalf("clean history: %v", r)
	}
	delete(store, "b") // the injected loss
	r := CheckSet(ops, mapReader(store))
	if r.OK() || len(r.Lost) != 1 || r.Lost[0] != "b" {
		t.Fatalf("lost write of b not caught: %v", r)
	}
}

func TestCheckSetCatchesWrongValueAndFailedApplied(t *testing.T) {
	ops := []Op{put(0, "a", "1", 0, 1, OK), put(1, "f", "2", 0, 1, Failed)}
	store := map[string]string{"a": ValueFor("a", "other", 0), "f": ValueFor("f", "2", 0)}
	r := CheckSet(ops, mapReader(store))
	if len(r.Corrupt) != 1 || len(r.FailedApplied) != 1 || r.OK() {
		t.Fatalf("corrupt value or applied failed write not caught: %v", r)
	}
}

func checkReg(t *testing.T, ops []Op) porcupine.CheckResult {
	t.Helper()
	return CheckRegister(ops, 10*time.Second, "").Result
}

func TestCheckRegisterAcceptsLinearizable(t *testing.T) {
	ops := []Op{
		put(0, "k", "1", 0, 10, OK),
		get(1, "k", "1", 5, 15), // concurrent with the put: may see it
		put(0, "k", "2", 20, 30, OK),
		get(1, "k", "2", 31, 35),
		unknown(put(2, "k", "3", 40, 0, Unknown)),
		get(1, "k", "2", 50, 55), // the unknown write not yet applied...
		get(1, "k", "3", 60, 65), // ...then applied: allowed
		del(0, "k", 70, 75),
		get(1, "k", "", 80, 85),
	}
	if r := checkReg(t, ops); r != porcupine.Ok {
		t.Fatalf("linearizable history judged %v", r)
	}
}

func TestCheckRegisterCatchesStaleRead(t *testing.T) {
	ops := []Op{
		put(0, "k", "1", 0, 10, OK),
		put(0, "k", "2", 20, 30, OK),
		get(1, "k", "1", 40, 45), // stale: 2 was acknowledged before this began
	}
	if r := checkReg(t, ops); r != porcupine.Illegal {
		t.Fatalf("stale read judged %v", r)
	}
}

func TestCheckRegisterCatchesLostWrite(t *testing.T) {
	ops := []Op{
		put(0, "k", "1", 0, 10, OK),
		get(1, "k", "", 20, 25), // the acknowledged write vanished
	}
	if r := checkReg(t, ops); r != porcupine.Illegal {
		t.Fatalf("lost write judged %v", r)
	}
}

func TestCheckRegisterCatchesFlipFlop(t *testing.T) {
	// An unknown write may apply once, not come and go.
	ops := []Op{
		put(0, "k", "1", 0, 10, OK),
		unknown(put(2, "k", "2", 15, 0, Unknown)),
		get(1, "k", "2", 20, 25),
		get(1, "k", "1", 30, 35),
	}
	if r := checkReg(t, ops); r != porcupine.Illegal {
		t.Fatalf("value flip-flop judged %v", r)
	}
}

func TestCheckRegisterPartitionsByKey(t *testing.T) {
	// Each key is fine on its own; reads of one key never see another's.
	ops := []Op{put(0, "a", "1", 0, 10, OK), put(1, "b", "2", 0, 10, OK), get(2, "a", "1", 20, 25), get(2, "b", "2", 20, 25)}
	if r := checkReg(t, ops); r != porcupine.Ok {
		t.Fatalf("per-key history judged %v", r)
	}
	ops = append(ops, get(3, "a", "2", 30, 35)) // b's value read under a
	if r := checkReg(t, ops); r != porcupine.Illegal {
		t.Fatalf("cross-key read judged %v", r)
	}
}

func TestClassify(t *testing.T) {
	if o, ok := Classify(nil); o != OK || !ok {
		t.Fatalf("nil: %v %v", o, ok)
	}
	if o, ok := Classify(errUnclassified{}); o != Unknown || ok {
		t.Fatalf("unclassified error must read as Unknown and be flagged: %v %v", o, ok)
	}
}

type errUnclassified struct{}

func (errUnclassified) Error() string { return "mystery" }
