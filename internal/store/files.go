package store

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/errandhq/errand/internal/task"
)

// FileChunk is the most bytes of a stored file one row holds: a file is
// written and read a chunk at a time, never held whole in memory.
const FileChunk = 1 << 20

// WriteChunks reads the file at f.Path and hands its bytes to put, a chunk
// of at most FileChunk bytes at a time, numbered from 0. The file must
// have f.Size bytes: a file that changed under the caller is refused
// rather than stored cut or padded.
func WriteChunks(f task.File, put func(n int, data []byte) error) error {
	in, err := os.Open(f.Path)
	if err != nil {
		return fmt.Errorf("store: file %s: %w", f.ID, err)
	}
	defer in.Close()
	buf := make([]byte, FileChunk)
	var total int64
	for n := 0; ; n++ {
		k, err := io.ReadFull(in, buf)
		if k > 0 {
			total += int64(k)
			if err := put(n, buf[:k]); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("store: file %s: %w", f.ID, err)
		}
	}
	if total != f.Size {
		return fmt.Errorf("store: file %s has %d bytes, not the %d announced", f.ID, total, f.Size)
	}
	return nil
}

// ChunkReader reads a stored file chunk by chunk: get returns chunk n, or
// ok false past the last one.
type ChunkReader struct {
	get  func(n int) (data []byte, ok bool, err error)
	n    int
	buf  []byte
	done bool
}

// NewChunkReader reads the chunks get returns, in order.
func NewChunkReader(get func(n int) ([]byte, bool, error)) *ChunkReader {
	return &ChunkReader{get: get}
}

func (r *ChunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.done {
			return 0, io.EOF
		}
		data, ok, err := r.get(r.n)
		if err != nil {
			return 0, err
		}
		if !ok {
			r.done = true
			return 0, io.EOF
		}
		r.n++
		r.buf = data
	}
	k := copy(p, r.buf)
	r.buf = r.buf[k:]
	return k, nil
}

// Close implements io.Closer; the chunks are read one query at a time, so
// nothing stays open.
func (r *ChunkReader) Close() error {
	r.done = true
	r.buf = nil
	return nil
}
