// A Go client for the supervisor's tests: Go's dialer makes raw system calls, so LD_PRELOAD never
// sees it. It knows nothing of tnat64.
//
//	dial tcp ADDR:PORT        connect; print the remote and local addresses Go sees
//	dial http URL             GET; print the body
//	dial many ADDR:PORT N     N goroutines dialling at once; print how many connected
//	dial listen ADDR:PORT     listen there, dial it, accept; print the addresses each side sees
//	dial udp ADDR:PORT        a connected UDP socket: one exchange with an echo server
//	dial udp-to NET ADDR:PORT an unconnected one (ListenUDP NET: udp4 is AF_INET, udp AF_INET6 with
//	                          IPv4-mapped destinations): WriteTo, ReadFrom; print who answered
//	dial lookup NAME          Go's own resolver (resolv.conf, UDP then TCP); print the addresses
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: dial MODE ARGS (the modes: at the head of dial.go)")
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
	case "udp":
		c, err := net.Dial("udp", os.Args[2])
		if err != nil {
			fail(err)
		}
		exchange(c, func(b []byte) (int, error) { return c.Write(b) }, c.Read)
		fmt.Printf("remote=%s\nlocal=%s\n", c.RemoteAddr(), c.LocalAddr())
	case "udp-to":
		c, err := net.ListenUDP(os.Args[2], nil)
		if err != nil {
			fail(err)
		}
		to, err := net.ResolveUDPAddr("udp", os.Args[3])
		if err != nil {
			fail(err)
		}
		var from net.Addr
		exchange(c, func(b []byte) (int, error) { return c.WriteTo(b, to) }, func(b []byte) (n int, err error) {
			n, from, err = c.ReadFrom(b)
			return n, err
		})
		fmt.Printf("from=%s\n", from)
	case "lookup":
		r := &net.Resolver{PreferGo: true}
		addrs, err := r.LookupHost(context.Background(), os.Args[2])
		if err != nil {
			fail(err)
		}
		fmt.Printf("addresses=%s\n", strings.Join(addrs, ","))
	default:
		fail(fmt.Errorf("unknown mode %s", os.Args[1]))
	}
}

// exchange sends one datagram and prints what came back, within two seconds.
func exchange(c net.Conn, send func([]byte) (int, error), receive func([]byte) (int, error)) {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := send([]byte("ping")); err != nil {
		fail(err)
	}
	b := make([]byte, 64)
	n, err := receive(b)
	if err != nil {
		fail(err)
	}
	fmt.Printf("reply=%s\n", b[:n])
}

func fail(err error) {
	fmt.Printf("error=%s\n", err)
	os.Exit(1)
}
