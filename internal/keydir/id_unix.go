//go:build unix

package keydir

import (
	"io/fs"
	"syscall"
)

// fileID is a file's device and inode: a rotated file has a new one even
// when its size and time are the same.
type fileID struct{ dev, ino uint64 }

func idOf(fi fs.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{uint64(st.Dev), uint64(st.Ino)} //nolint:unconvert // the types differ between systems
	}
	return fileID{}
}
