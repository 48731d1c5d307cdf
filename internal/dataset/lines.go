package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// lineReader passes bytes through while remembering where lines start, so
// a byte offset reported by a decoder becomes a line and column. Only the
// newlines ahead of the last asked-for offset are kept: memory stays flat.
type lineReader struct {
	r *bufio.Reader
	// off is the number of bytes handed out so far.
	off int64
	// pending holds offsets of newlines not yet passed by lineAt.
	pending []int64
	// passed counts newlines before the last asked-for offset; lastNL is
	// the offset of the last of them (-1 for none).
	passed int
	lastNL int64
	// lineNo is the current line for readLine (JSON Lines mode).
	lineNo int
	// track makes Read remember newlines for lineAt and position (JSON
	// arrays). CSV finds its own lines; without a reader asking,
	// remembering them would grow pending by a word a line.
	track bool
	// newlines counts the newlines Read has handed out, so that a read
	// error names the line where reading stopped.
	newlines int
}

func (l *lineReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if l.track {
		for i := 0; i < n; {
			j := bytes.IndexByte(p[i:n], '\n')
			if j < 0 {
				break
			}
			l.pending = append(l.pending, l.off+int64(i+j))
			i += j + 1
		}
	}
	l.newlines += bytes.Count(p[:n], []byte{'\n'})
	l.off += int64(n)
	return n, err
}

// readingLine returns the 1-based line that Read's bytes so far end on: the
// line where reading stopped when Read failed. A reader that buffers (the
// CSV reader) sees the error only once it has used every byte before it.
func (l *lineReader) readingLine() int { return l.newlines + 1 }

// lineAt returns the 1-based line of byte offset off (0-based). Offsets
// must not decrease between calls.
func (l *lineReader) lineAt(off int64) int {
	line, _ := l.position(off)
	return line
}

// position returns the 1-based line and column of byte offset off.
func (l *lineReader) position(off int64) (int, int) {
	i := 0
	for i < len(l.pending) && l.pending[i] < off {
		l.lastNL = l.pending[i]
		i++
	}
	l.passed += i
	// Compact instead of reslicing forever.
	l.pending = append(l.pending[:0], l.pending[i:]...)
	col := int(off - l.lastNL - 1)
	if col < 1 {
		col = 1
	}
	return l.passed + 1, col
}

// skipBlankLines consumes the lines that hold nothing but whitespace ahead
// of the first significant byte, however many there are, and returns that
// byte (0 when the input holds nothing else) and the number of lines
// consumed. The whitespace before the byte on its own line is left, so
// columns stay right; only a single line of more than a buffer of blanks
// is consumed in part.
func (l *lineReader) skipBlankLines() (byte, int, error) {
	skipped := 0
	for size := 64; ; {
		buf, err := l.r.Peek(size)
		lastNL := -1
		for i, c := range buf {
			switch c {
			case '\n':
				lastNL = i
				continue
			case ' ', '\t', '\r':
				continue
			}
			skipped += bytes.Count(buf[:lastNL+1], []byte{'\n'})
			_, _ = l.r.Discard(lastNL + 1)
			return c, skipped, nil
		}
		switch {
		case errors.Is(err, io.EOF):
			return 0, skipped, nil
		case err != nil && !errors.Is(err, bufio.ErrBufferFull):
			return 0, skipped, err
		case len(buf) < l.r.Size():
			size = min(2*size, l.r.Size())
			continue
		}
		// A whole buffer of blanks: consume its complete lines (all of it
		// when it holds no newline) and look further.
		n := lastNL + 1
		if n == 0 {
			n = len(buf)
		}
		skipped += bytes.Count(buf[:n], []byte{'\n'})
		_, _ = l.r.Discard(n)
	}
}

// readLine returns the next line without its newline, the 1-based line it
// starts on, and tooLarge when it exceeded max bytes (then only its first
// bytes are returned and the rest is skipped).
func (l *lineReader) readLine(max int) ([]byte, int, bool, error) {
	l.lineNo++
	start := l.lineNo
	var line []byte
	tooLarge := false
	for {
		chunk, err := l.r.ReadSlice('\n')
		l.off += int64(len(chunk))
		if !tooLarge {
			if len(line)+len(chunk) > max {
				tooLarge = true
				keep := 256 - len(line)
				if keep > 0 && keep <= len(chunk) {
					line = append(line, chunk[:keep]...)
				}
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if n := len(line); !tooLarge && n > 0 && line[n-1] == '\n' {
			line = line[:n-1]
		}
		return line, start, tooLarge, err
	}
}
