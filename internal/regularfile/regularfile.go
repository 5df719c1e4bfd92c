// Package regularfile is the one bounded read of a file the user names:
// the accounts file (package config) and a key file (package apikey). A
// named pipe, a device or a directory named by mistake is refused, never
// waited on, and a file larger than its bound is never read whole.
package regularfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Open opens path to read: without waiting for a writer when it is a
// named pipe, and refusing, with a *NotRegularError, what is not a regular
// file. Its other errors are os.OpenFile's and Stat's. fi is the open
// file's.
func Open(path string) (f *os.File, fi fs.FileInfo, err error) {
	f, err = os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, nil, err
	}
	if fi, err = f.Stat(); err == nil && !fi.Mode().IsRegular() {
		err = &NotRegularError{Path: path, Mode: fi.Mode()}
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// NotRegularError is a path that is not a regular file.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	kind := "a special file" // a socket too: opening one fails before its Stat
	switch m := e.Mode; {
	case m.IsDir():
		kind = "a directory"
	case m&fs.ModeNamedPipe != 0:
		kind = "a named pipe"
	case m&fs.ModeDevice != 0:
		kind = "a device"
	}
	return fmt.Sprintf("%s is %s, not a regular file", e.Path, kind)
}

// ErrTooLarge is a file longer than the most ReadAll reads.
var ErrTooLarge = errors.New("larger than the bound")

// ReadAll reads r to its end, but never more than max+1 bytes: a file
// longer than max is ErrTooLarge, whatever size its Stat says (files in
// /proc say 0, and a file may grow while it is read).
func ReadAll(r io.Reader, max int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err == nil && len(b) > max {
		err = ErrTooLarge
	}
	return b, err
}
