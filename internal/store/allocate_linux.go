package store

import (
	"os"
	"syscall"
)

// allocate gives f n bytes of allocated blocks (fallocate(2)).
func allocate(f *os.File, n int64) error {
	return syscall.Fallocate(int(f.Fd()), 0, 0, n)
}
