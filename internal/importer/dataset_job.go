package importer

import (
	"context"
	"encoding/json"
	"fmt"
)

// DatasetEvent is the dataset function's input: {"action": "split", ...}
// from the first state of statemachine/import-dataset.asl.json, or
// {"action": "summarise", "input": <the execution state>} from its last.
type DatasetEvent struct {
	Action string `json:"action"`
	SplitEvent
	Input json.RawMessage `json:"input,omitempty"`
}

// DatasetSummary is the summarise step's answer.
type DatasetSummary struct {
	Object       string         `json:"object"`
	Records      int            `json:"records"`
	Chunks       int            `json:"chunks"`
	ChunksFailed int            `json:"chunks_failed"`
	Counts       map[string]int `json:"counts"`
	TooLarge     []int          `json:"too_large_lines,omitempty"`
	Unreadable   []int          `json:"unreadable_lines,omitempty"`
	Outcome      string         `json:"outcome"` // succeeded | partial | failed
	Error        string         `json:"error,omitempty"`
}

// DatasetHandler is the dataset function's handler.
type DatasetHandler struct {
	Splitter *Splitter
}

// Handle splits or summarises.
func (h *DatasetHandler) Handle(ctx context.Context, ev DatasetEvent) (any, error) {
	switch ev.Action {
	case "split":
		return h.Splitter.Split(ctx, ev.SplitEvent)
	case "summarise":
		return Summarise(ev.Input)
	}
	return nil, &BadInputError{Err: fmt.Errorf(`unknown action %q: expected "split" or "summarise"`, ev.Action)}
}

// Summarise adds up the chunk imports of one dataset execution. A chunk
// the Map gave up on (tolerated failures) has an {"Error", "Cause"} entry
// instead of a result.
func Summarise(input json.RawMessage) (*DatasetSummary, error) {
	var st struct {
		Split  *SplitResult      `json:"split"`
		Chunks []json.RawMessage `json:"chunks"`
		Error  *struct {
			Error string `json:"Error"`
			Cause string `json:"Cause"`
		} `json:"error"`
	}
	if err := json.Unmarshal(input, &st); err != nil {
		return nil, &BadInputError{Err: fmt.Errorf("decoding the dataset execution state: %w", err)}
	}
	sum := &DatasetSummary{Counts: map[string]int{}}
	if st.Split != nil {
		sum.Object, sum.Records, sum.Chunks, sum.TooLarge = st.Split.Object, st.Split.Records, len(st.Split.Chunks), st.Split.TooLarge
		sum.Unreadable = st.Split.Unreadable
	}
	for _, raw := range st.Chunks {
		var res ObjectResult
		if err := json.Unmarshal(raw, &res); err != nil || res.Summary == nil {
			sum.ChunksFailed++
			continue
		}
		for k, v := range res.Summary.Counts {
			sum.Counts[k] += v
		}
	}
	if st.Split != nil && len(st.Chunks) < len(st.Split.Chunks) {
		sum.ChunksFailed += len(st.Split.Chunks) - len(st.Chunks)
	}
	switch {
	case st.Error != nil:
		sum.Outcome, sum.Error = "failed", st.Error.Error+": "+st.Error.Cause
	case sum.ChunksFailed > 0:
		sum.Outcome = "partial"
	default:
		sum.Outcome = "succeeded"
	}
	return sum, nil
}
