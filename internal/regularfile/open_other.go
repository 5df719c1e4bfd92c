//go:build !unix

package regularfile

// openFlags is empty where there are no named pipes to block an open.
const openFlags = 0
