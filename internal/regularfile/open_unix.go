//go:build unix

package regularfile

import "syscall"

// openFlags makes opening a named pipe return at once instead of waiting
// for a writer. It changes nothing for a regular file.
const openFlags = syscall.O_NONBLOCK
