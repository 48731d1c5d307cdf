package importer

import (
	"errors"
	"io"
	"runtime"
	"sync"

	"github.com/scentmatch/pipeline/internal/catalog"
)

// readBatch is a batch of records read and validated ahead of the writes,
// or the error that ended reading.
type readBatch struct {
	items     []*item
	valid     int
	bytesRead int64
	err       error
}

// Validation runs on every core: one goroutine reads records into chunks,
// workers validate whole chunks, and the batcher takes the chunks back in
// input order. At most inFlightChunks chunks are read ahead, which bounds
// the memory the pipeline holds beyond the batches themselves.
// (2x128 records kept both cores busy; 8x256 cost the 1M import about
// 15 MB of peak RSS.)
const (
	chunkRecords   = 128
	inFlightChunks = 4
)

// chunk is a run of consecutive input records. done is closed once every
// record of it is validated.
type chunk struct {
	items []*item
	bytes []int64 // BytesRead after each record, for progress
	err   error   // the read error that ended the input after items
	eof   bool
	eofAt int64
	done  chan struct{}
}

// produce reads and validates records into batches of size valid records
// (or 4x that many records in all, so a run of rejects still flushes), in
// input order, validating on GOMAXPROCS goroutines.
func produce(r Records, v *catalog.Validator, size int, out chan<- readBatch, stop <-chan struct{}) {
	workers := runtime.GOMAXPROCS(0)
	ordered := make(chan *chunk, inFlightChunks)
	work := make(chan *chunk, inFlightChunks)
	// Nothing may read r or validate after produce returns: the caller
	// closes the input then.
	var wg sync.WaitGroup
	defer wg.Wait()
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for ch := range work {
				for _, it := range ch.items {
					it.f, it.issues = v.Check(it.raw)
					if it.f != nil {
						// What a valid record needs of its raw fields
						// is taken now; the item lets go of them (the
						// reader's Raw is left as it was), so that the
						// batches in flight do not hold every decoded
						// record twice. A rejected one keeps them for
						// its quarantine row.
						statedYear(it)
						kept := *it.raw
						kept.Fields = nil
						it.raw = &kept
					}
				}
				close(ch.done)
			}
		})
	}
	wg.Go(func() {
		defer close(ordered)
		defer close(work)
		readChunks(r, ordered, work, stop)
	})

	var cur []*item
	valid := 0
	send := func(rb readBatch) bool {
		select {
		case out <- rb:
			return true
		case <-stop:
			return false
		}
	}
	for ch := range ordered {
		select {
		case <-ch.done:
		case <-stop:
			return
		}
		for i, it := range ch.items {
			cur = append(cur, it)
			if it.f != nil {
				valid++
			}
			if valid >= size || len(cur) >= 4*size {
				if !send(readBatch{items: cur, valid: valid, bytesRead: ch.bytes[i]}) {
					return
				}
				cur, valid = nil, 0
			}
		}
		switch {
		case ch.err != nil:
			send(readBatch{valid: valid, err: ch.err})
			return
		case ch.eof:
			if len(cur) > 0 {
				send(readBatch{items: cur, valid: valid, bytesRead: ch.eofAt})
			}
			return
		}
	}
}

// readChunks reads r into chunks, handing each to the workers and, in
// order, to the batcher, until the input ends or stop closes.
func readChunks(r Records, ordered, work chan<- *chunk, stop <-chan struct{}) {
	for {
		ch := &chunk{items: make([]*item, 0, chunkRecords), bytes: make([]int64, 0, chunkRecords), done: make(chan struct{})}
		for len(ch.items) < chunkRecords {
			raw, err := r.Next()
			if errors.Is(err, io.EOF) {
				ch.eof, ch.eofAt = true, r.BytesRead()
				break
			}
			if err != nil {
				ch.err = err
				break
			}
			ch.items = append(ch.items, &item{raw: raw})
			ch.bytes = append(ch.bytes, r.BytesRead())
		}
		for _, c := range []chan<- *chunk{ordered, work} {
			select {
			case c <- ch:
			case <-stop:
				return
			}
		}
		if ch.eof || ch.err != nil {
			return
		}
	}
}
