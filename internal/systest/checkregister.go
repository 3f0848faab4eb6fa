package systest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// regInput and regOutput are a register operation as porcupine sees it.
type regInput struct {
	Kind  Kind
	Key   string
	Value string // Put's value
}

type regOutput struct {
	Value   string // Get's value; "" when not found
	Unknown bool   // a write of unknown outcome: any effect, any time
}

// RegisterModel is a per-key register: its state is the key's value, ""
// when absent (workload values are never empty). A PUT sets it, a DEL
// clears it, a GET must return it. The history is partitioned by key:
// single-key linearizability is what the daemon promises.
var RegisterModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Input.(regInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in, out := input.(regInput), output.(regOutput)
		switch in.Kind {
		case Put:
			return true, in.Value
		case Del:
			return true, ""
		default:
			return out.Value == state.(string), state
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(regInput), output.(regOutput)
		switch {
		case in.Kind == Get:
			return fmt.Sprintf("get(%s) → %q", in.Key, tag(out.Value))
		case out.Unknown:
			return fmt.Sprintf("%v(%s, %q) → unknown", in.Kind, in.Key, tag(in.Value))
		}
		return fmt.Sprintf("%v(%s, %q)", in.Kind, in.Key, tag(in.Value))
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", tag(state.(string))) },
}

// tag shortens a ValueFor value (key|tag|padding) to its unique tag.
func tag(v string) string {
	if parts := strings.SplitN(v, "|", 3); len(parts) == 3 {
		return parts[1]
	}
	return v
}

// RegisterOps turns a history into porcupine operations. Failed
// operations took no effect and are left out; so are reads without an
// answer, which observed nothing. Unknown writes stay, with an infinite
// return time: they may take effect at any point after their call.
func RegisterOps(ops []Op) []porcupine.Operation {
	var out []porcupine.Operation
	for _, op := range ops {
		if op.Outcome == Failed || (op.Kind == Get && op.Outcome == Unknown) {
			continue
		}
		in := regInput{Kind: op.Kind, Key: op.Key}
		o := regOutput{Unknown: op.Outcome == Unknown}
		if op.Kind == Put {
			in.Value = op.Value
		}
		if op.Kind == Get && op.Outcome == OK {
			o.Value = op.Value
		}
		out = append(out, porcupine.Operation{ClientId: op.Worker, Input: in, Call: op.Call, Output: o, Return: op.Return})
	}
	return out
}

// RegisterVerdict is the result of CheckRegister.
type RegisterVerdict struct {
	Result porcupine.CheckResult // Ok, Illegal, or Unknown (timed out)
	Ops    int                   // operations checked
	// Visualization is an HTML file showing the history, written when the
	// result is not Ok.
	Visualization string
}

func (v RegisterVerdict) String() string {
	s := fmt.Sprintf("linearizable=%s checked_ops=%d", v.Result, v.Ops)
	if v.Visualization != "" {
		s += " visualization=" + v.Visualization
	}
	return s
}

// CheckRegister checks a RegisterMix history for per-key
// linearizability with porcupine, within timeout. A non-Ok result is
// visualized into a file under dir (kept for the developer to open).
func CheckRegister(ops []Op, timeout time.Duration, dir string) RegisterVerdict {
	pops := RegisterOps(ops)
	res, info := porcupine.CheckOperationsVerbose(RegisterModel, pops, timeout)
	v := RegisterVerdict{Result: res, Ops: len(pops)}
	if res != porcupine.Ok && dir != "" {
		f, err := os.CreateTemp(dir, "porcupine-*.html")
		if err == nil {
			f.Close()
			if porcupine.VisualizePath(RegisterModel, info, f.Name()) == nil {
				v.Visualization, _ = filepath.Abs(f.Name())
			}
		}
	}
	return v
}
