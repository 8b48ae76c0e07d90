// Command testdns serves a zone file over DNS (UDP and TCP) for end-to-end
// tests and for external tools run in a network namespace:
//
//	go run ./internal/dns/dnstest/testdns -listen 127.0.0.1:5300 zone.txt
//
// It answers authoritatively for every name from the zone files given
// (RFC 1035 syntax, origin "."), NXDOMAIN for names absent, with the AD bit
// when -ad is set, and SERVFAIL for the names listed in -servfail. It prints
// "listening on ADDR" once ready and runs until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:53", "UDP and TCP address to listen on")
	ad := flag.Bool("ad", false, "set the AD (authentic data) bit on every answer")
	servfail := flag.String("servfail", "", "comma-separated names answered with SERVFAIL")
	maxUDP := flag.Int("max-udp", 0, "truncate UDP answers above this size (0: the client's EDNS0 size)")
	ttl := flag.Uint("ttl", 300, "TTL of the records served")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: testdns [flags] [zonefile...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*listen, *ad, *servfail, *maxUDP, uint32(*ttl), flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "testdns:", err)
		os.Exit(1)
	}
}

func run(listen string, ad bool, servfail string, maxUDP int, ttl uint32, files []string) error {
	// One zone from all files; each starts at origin ".".
	var text strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		text.WriteString("$ORIGIN .\n")
		text.Write(b)
		text.WriteString("\n")
	}
	zone, err := dnstest.ParseZone(strings.NewReader(text.String()), ".")
	if err != nil {
		return err
	}
	for _, n := range strings.Split(servfail, ",") {
		if n = strings.TrimSpace(n); n != "" {
			r := zone[n]
			r.ServFail = true
			zone[n] = r
		}
	}
	srv, err := dnstest.NewServer(zone, dnstest.ServerOptions{Addr: listen, AD: ad, MaxUDPSize: maxUDP, TTL: ttl})
	if err != nil {
		return err
	}
	fmt.Println("listening on", srv.Addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return srv.Close()
}
