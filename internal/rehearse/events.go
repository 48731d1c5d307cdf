package rehearse

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// MachineInputs are files under events/ that are state machine inputs,
// not function events, by name (without .json).
var MachineInputs = map[string]string{
	"schedule": "CycleStateMachine", // what the weekly schedule passes
}

// NotEvents are files under events/ that are neither (by name).
var NotEvents = map[string]string{
	"env": "the --env-vars file of sam local invoke",
}

// Event is a sample event and the function it is for.
type Event struct {
	Name     string // file name without .json
	Path     string
	Function string // the logical id: "detect-reduced" is DetectFunction's
	DryRun   bool   // the event says "dry_run": true
}

// Order is the order functions' events run in: migrate first, as a
// deploy does, then a cycle's order, then the rest.
var Order = []string{"MigrateFunction", "StatusFunction", "DatasetFunction", "DetectFunction", "ImportFunction",
	"MaintainFunction", "MetricsFunction", "NotifyFunction", "BackupFunction"}

// Events lists dir's function events in Order (dry runs first, then by
// name, within a function),
// each mapped by the part of its name before the first "-". A file that is
// none of an event of a known function, a machine input or a known
// non-event is an error.
func Events(dir string, functions []string) ([]Event, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, f := range functions {
		known[f] = true
	}
	var out []Event
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if _, ok := MachineInputs[name]; ok {
			continue
		}
		if _, ok := NotEvents[name]; ok {
			continue
		}
		prefix, _, _ := strings.Cut(name, "-")
		id := strings.ToUpper(prefix[:1]) + prefix[1:] + "Function"
		if !known[id] {
			return nil, fmt.Errorf("%s: no function %s in template.yaml for it (name events <function>[-variant].json, or list it in rehearse.MachineInputs or NotEvents)", f, id)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var probe struct {
			DryRun bool `json:"dry_run"`
		}
		_ = json.Unmarshal(b, &probe) // not JSON: the invocation says so
		out = append(out, Event{Name: name, Path: f, Function: id, DryRun: probe.DryRun})
	}
	rank := func(id string) int {
		if i := slices.Index(Order, id); i >= 0 {
			return i
		}
		return len(Order)
	}
	slices.SortStableFunc(out, func(a, b Event) int {
		if d := rank(a.Function) - rank(b.Function); d != 0 {
			return d
		}
		// A dry run changes nothing: it goes before the function's event
		// that starts a cycle, which would make it AlreadyRunningError.
		if a.DryRun != b.DryRun {
			if a.DryRun {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	if len(out) == 0 {
		return nil, fmt.Errorf("no events in %s", dir)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	return out, nil
}
