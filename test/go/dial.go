// A Go client for the supervisor's tests: Go's dialer makes raw system calls, so LD_PRELOAD never
// sees it. It knows nothing of tnat64.
//
//	dial tcp ADDR:PORT        connect; print the remote and local addresses Go sees
//	dial http URL             GET; print the body
//	dial many ADDR:PORT N     N goroutines dialling at once; print how many connected
//	dial listen ADDR:PORT     listen there, dial it, accept; print the addresses each side sees
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: dial tcp|http|many ADDR [N]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "tcp":
		c, err := net.Dial("tcp", os.Args[2])
		if err != nil {
			fail(err)
		}
		fmt.Printf("remote=%s\nlocal=%s\n", c.RemoteAddr(), c.LocalAddr())
		c.Close()
	case "http":
		r, err := http.Get(os.Args[2])
		if err != nil {
			fail(err)
		}
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("body=%s\n", body)
	case "many":
		n, _ := strconv.Atoi(os.Args[3])
		var connected, ipv4 atomic.Int64
		var firstError atomic.Value
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("tcp", os.Args[2])
				if err != nil {
					firstError.CompareAndSwap(nil, err.Error())
					return
				}
				connected.Add(1)
				if r, ok := c.RemoteAddr().(*net.TCPAddr); ok && r.IP.To4() != nil {
					ipv4.Add(1)
				}
				c.Close()
			}()
		}
		wg.Wait()
		fmt.Printf("connected=%d/%d\nipv4_remote=%d\nfirst_error=%v\n", connected.Load(), n, ipv4.Load(), firstError.Load())
	case "listen":
		l, err := net.Listen("tcp", os.Args[2])
		if err != nil {
			fail(err)
		}
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			fail(err)
		}
		a, err := l.Accept()
		if err != nil {
			fail(err)
		}
		fmt.Printf("listening=%s\naccepted_from=%s\ndialled_from=%s\n", l.Addr(), a.RemoteAddr(), c.LocalAddr())
	default:
		fail(fmt.Errorf("unknown mode %s", os.Args[1]))
	}
}

func fail(err error) {
	fmt.Printf("error=%s\n", err)
	os.Exit(1)
}
