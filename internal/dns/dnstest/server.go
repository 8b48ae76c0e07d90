package dnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// ServerOptions configure a Server.
type ServerOptions struct {
	// Addr is the UDP and TCP address to listen on; "127.0.0.1:0" when empty
	// (a free port, the same for both).
	Addr string
	// AD sets the AD bit on every answer, as a validating resolver would;
	// Records.Authentic does so per name.
	AD bool
	// MaxUDPSize, when set, truncates UDP answers above it even if the
	// client's EDNS0 buffer is larger, to exercise the TCP fallback.
	// Without it the limit is the client's EDNS0 size, or 512 (RFC 1035 §4.2.1).
	MaxUDPSize int
	// TTL of the records served (300 when zero) and the negative TTL in the
	// SOA of NXDOMAIN and no-data answers (60 when zero; RFC 2308 §5).
	TTL, NegativeTTL uint32
}

// Server is a DNS server for tests: authoritative for everything, answering
// from a Zone over UDP and TCP on one loopback port.
type Server struct {
	// Addr is "ip:port", the same for UDP and TCP.
	Addr string

	opts   ServerOptions
	udp    *mdns.Server
	tcpSrv *mdns.Server
	mu     sync.Mutex
	zone   map[string]Records
	exist  map[string]bool
	counts map[string]int
	tcp    int
}

// NewServer starts a Server answering from z.
func NewServer(z Zone, opts ServerOptions) (*Server, error) {
	if err := z.Validate(); err != nil {
		return nil, err
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.TTL == 0 {
		opts.TTL = 300
	}
	if opts.NegativeTTL == 0 {
		opts.NegativeTTL = 60
	}
	pc, ln, err := listenBoth(opts.Addr)
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: pc.LocalAddr().String(), opts: opts}
	s.Set(z)
	h := mdns.HandlerFunc(s.serveDNS)
	s.udp = &mdns.Server{PacketConn: pc, Handler: h, UDPSize: 65535}
	s.tcpSrv = &mdns.Server{Listener: ln, Handler: h}
	for _, srv := range []*mdns.Server{s.udp, s.tcpSrv} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe() //nolint:errcheck // returns on Shutdown
		<-started
	}
	return s, nil
}

// Start is NewServer for tests: it fails t on error and closes the server
// when the test ends.
func Start(t testing.TB, z Zone, opts ServerOptions) *Server {
	t.Helper()
	s, err := NewServer(z, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// listenBoth binds UDP and TCP on one port, retrying when a free UDP port
// is taken for TCP.
func listenBoth(addr string) (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dnstest: %w", err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
		if _, port, _ := net.SplitHostPort(addr); port != "0" {
			break
		}
	}
	return nil, nil, fmt.Errorf("dnstest: %w", lastErr)
}

// Set replaces the zone served.
func (s *Server) Set(z Zone) {
	zone := z.normalize()
	exist := map[string]bool{}
	for name, rec := range zone {
		if rec.empty() && !rec.ServFail {
			continue
		}
		for n := name; ; {
			exist[n] = true
			_, rest, ok := strings.Cut(n, ".")
			if !ok {
				break
			}
			n = rest
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zone, s.exist = zone, exist
}

// Queries returns how many queries asked for name.
func (s *Server) Queries(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[key(name)]
}

// TCPQueries returns how many queries came over TCP.
func (s *Server) TCPQueries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tcp
}

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(s.udp.ShutdownContext(ctx), s.tcpSrv.ShutdownContext(ctx))
}

func (s *Server) serveDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	resp := new(mdns.Msg)
	if len(req.Question) != 1 || req.Opcode != mdns.OpcodeQuery {
		resp.SetRcode(req, mdns.RcodeFormatError)
		w.WriteMsg(resp)
		return
	}
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = true
	q := req.Question[0]
	s.answer(resp, q)

	size := mdns.MaxMsgSize
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size = mdns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		if s.opts.MaxUDPSize > 0 && s.opts.MaxUDPSize < size {
			size = s.opts.MaxUDPSize
		}
	} else {
		s.mu.Lock()
		s.tcp++
		s.mu.Unlock()
	}
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(opt.UDPSize(), false)
	}
	resp.Truncate(size)
	w.WriteMsg(resp)
}

// answer fills resp for q from the zone, following CNAMEs.
func (s *Server) answer(resp *mdns.Msg, q mdns.Question) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(unescape(q.Name))
	if s.counts == nil {
		s.counts = map[string]int{}
	}
	s.counts[k]++
	owner := q.Name
	auth := true
	for range 8 {
		rec, ok := s.zone[k]
		auth = auth && (s.opts.AD || rec.Authentic)
		if ok && rec.ServFail {
			resp.Answer = nil
			resp.Rcode = mdns.RcodeServerFailure
			return
		}
		if rec.CNAME != "" && q.Qtype != mdns.TypeCNAME {
			target := escapeName(rec.CNAME)
			resp.Answer = append(resp.Answer, &mdns.CNAME{Hdr: s.hdr(owner, mdns.TypeCNAME), Target: target})
			owner, k = target, key(rec.CNAME)
			continue
		}
		rrs := s.records(owner, q.Qtype, rec)
		resp.Answer = append(resp.Answer, rrs...)
		if len(rrs) == 0 {
			resp.Ns = []mdns.RR{s.soa()}
			if !s.exist[k] {
				resp.Rcode = mdns.RcodeNameError
			}
		}
		resp.AuthenticatedData = auth
		return
	}
	resp.Rcode = mdns.RcodeServerFailure
}

func (s *Server) hdr(owner string, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: owner, Rrtype: t, Class: mdns.ClassINET, Ttl: s.opts.TTL}
}

// soa is the SOA sent with negative answers; its TTL and MINIMUM are the
// negative TTL (RFC 2308 §3).
func (s *Server) soa() mdns.RR {
	n := s.opts.NegativeTTL
	return &mdns.SOA{Hdr: mdns.RR_Header{Name: ".", Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: n},
		Ns: "ns.test.", Mbox: "hostmaster.test.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: n}
}

// records returns rec's records of type t, owned by owner.
func (s *Server) records(owner string, t uint16, rec Records) []mdns.RR {
	var rrs []mdns.RR
	switch t {
	case mdns.TypeA:
		for _, a := range rec.A {
			rrs = append(rrs, &mdns.A{Hdr: s.hdr(owner, t), A: net.ParseIP(a)})
		}
	case mdns.TypeAAAA:
		for _, a := range rec.AAAA {
			rrs = append(rrs, &mdns.AAAA{Hdr: s.hdr(owner, t), AAAA: net.ParseIP(a)})
		}
	case mdns.TypeMX:
		for _, mx := range rec.MX {
			rrs = append(rrs, &mdns.MX{Hdr: s.hdr(owner, t), Preference: mx.Pref, Mx: escapeName(mx.Host)})
		}
	case mdns.TypeTXT:
		for _, txt := range rec.TXT {
			rrs = append(rrs, &mdns.TXT{Hdr: s.hdr(owner, t), Txt: splitTXT(txt)})
		}
	case mdns.TypePTR:
		for _, p := range rec.PTR {
			rrs = append(rrs, &mdns.PTR{Hdr: s.hdr(owner, t), Ptr: escapeName(p)})
		}
	case mdns.TypeCNAME:
		if rec.CNAME != "" {
			rrs = append(rrs, &mdns.CNAME{Hdr: s.hdr(owner, t), Target: escapeName(rec.CNAME)})
		}
	case mdns.TypeTLSA:
		for _, tl := range rec.TLSA {
			rrs = append(rrs, &mdns.TLSA{Hdr: s.hdr(owner, t), Usage: tl.Usage, Selector: tl.Selector,
				MatchingType: tl.MatchingType, Certificate: fmt.Sprintf("%x", tl.Data)})
		}
	}
	return rrs
}

// splitTXT splits a record into character-strings of at most 255 octets
// (RFC 1035 §3.3.14), escaped for miekg/dns.
func splitTXT(s string) []string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, escapeText(s[:255]))
		s = s[255:]
	}
	return append(parts, escapeText(s))
}
