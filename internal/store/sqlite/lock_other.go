//go:build !unix

package sqlite

import (
	"fmt"
	"os"
)

// lockFile creates the lock file exclusively where flock is unavailable. A
// file left by a crash must then be removed by hand; the error says so.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		if os.IsExist(err) {
			return nil, fmt.Errorf("sqlite: %s exists: another errand process holds the store, or one crashed (then remove the file): %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("sqlite: lock file: %w", err)
	}
	return f, nil
}

func unlockFile(f *os.File) error {
	name := f.Name()
	err := f.Close()
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	return err
}
