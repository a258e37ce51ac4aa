package vmtest

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

// A cpioWriter writes a cpio archive in the "newc" format the kernel
// unpacks into its initramfs. Every entry is owned by root.
type cpioWriter struct {
	w   *bufio.Writer
	n   int64 // bytes written, for padding
	ino uint32
	err error
}

func newCPIOWriter(w io.Writer) *cpioWriter { return &cpioWriter{w: bufio.NewWriterSize(w, 1<<20)} }

// Mode bits of newc entries.
const (
	cpioDir  = 0o040000
	cpioReg  = 0o100000
	cpioLink = 0o120000
	cpioChr  = 0o020000
)

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	var n int
	n, c.err = c.w.Write(b)
	c.n += int64(n)
}

func (c *cpioWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// header writes one entry's header and name; name has no leading '/'.
func (c *cpioWriter) header(name string, mode uint32, size int64, rdevMajor, rdevMinor uint32) {
	if size > 0xffffffff {
		c.err = fmt.Errorf("cpio: %s: %d bytes is too large for newc", name, size)
		return
	}
	c.ino++
	nlink := uint32(1)
	if mode&0o170000 == cpioDir {
		nlink = 2
	}
	h := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.write([]byte(h))
	c.write([]byte(name))
	c.write([]byte{0})
	c.pad()
}

// Dir adds a directory.
func (c *cpioWriter) Dir(name string, perm fs.FileMode) {
	c.header(strings.TrimPrefix(name, "/"), cpioDir|uint32(perm.Perm()), 0, 0, 0)
}

// Symlink adds a symbolic link name -> target.
func (c *cpioWriter) Symlink(name, target string) {
	c.header(strings.TrimPrefix(name, "/"), cpioLink|0o777, int64(len(target)), 0, 0)
	c.write([]byte(target))
	c.pad()
}

// CharDev adds a character device node.
func (c *cpioWriter) CharDev(name string, perm fs.FileMode, major, minor uint32) {
	c.header(strings.TrimPrefix(name, "/"), cpioChr|uint32(perm.Perm()), 0, major, minor)
}

// Bytes adds a regular file holding data.
func (c *cpioWriter) Bytes(name string, perm fs.FileMode, data []byte) {
	c.header(strings.TrimPrefix(name, "/"), cpioReg|uint32(perm.Perm()), int64(len(data)), 0, 0)
	c.write(data)
	c.pad()
}

// File adds the host file src as name, keeping its permission bits.
func (c *cpioWriter) File(name, src string) {
	if c.err != nil {
		return
	}
	f, err := os.Open(src)
	if err != nil {
		c.err = fmt.Errorf("cpio: %w", err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		c.err = fmt.Errorf("cpio: %w", err)
		return
	}
	c.header(strings.TrimPrefix(name, "/"), cpioReg|uint32(fi.Mode().Perm()), fi.Size(), 0, 0)
	if c.err != nil {
		return
	}
	n, err := io.Copy(c.w, f)
	c.n += n
	if err != nil {
		c.err = fmt.Errorf("cpio: %s: %w", src, err)
		return
	}
	if n != fi.Size() {
		c.err = fmt.Errorf("cpio: %s changed size while being read", src)
		return
	}
	c.pad()
}

// Tree adds the host directory root as the archive's "/", parents before
// children: directories, regular files and symlinks (others are refused).
func (c *cpioWriter) Tree(root string) {
	if c.err != nil {
		return
	}
	var paths []string
	err := fs.WalkDir(os.DirFS(root), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		c.err = fmt.Errorf("cpio: walking %s: %w", root, err)
		return
	}
	sort.Strings(paths) // "a" < "a/b": parents first
	for _, p := range paths {
		src := path.Join(root, p)
		fi, err := os.Lstat(src)
		if err != nil {
			c.err = fmt.Errorf("cpio: %w", err)
			return
		}
		switch {
		case fi.IsDir():
			c.Dir(p, fi.Mode())
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(src)
			if err != nil {
				c.err = fmt.Errorf("cpio: %w", err)
				return
			}
			c.Symlink(p, t)
		case fi.Mode().IsRegular():
			c.File(p, src)
		default:
			c.err = fmt.Errorf("cpio: %s: unsupported file type %v", src, fi.Mode().Type())
			return
		}
	}
}

// Close writes the trailer and flushes; it does not close the underlying
// writer.
func (c *cpioWriter) Close() error {
	c.header("TRAILER!!!", 0, 0, 0, 0)
	if c.err == nil {
		c.err = c.w.Flush()
	}
	return c.err
}
