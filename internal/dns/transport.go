package dns

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// This file is the bridge between adns and our policy. adns reads its
// servers and its "trust-ad" decision from /etc/resolv.conf only, does not
// say whether a negative answer was NXDOMAIN or no data, and does not
// report TTLs. So the Client gives adns a Dial function that returns
// lazy connections: each one picks one of our servers when adns writes the
// query, sets the AD bit in it (RFC 6840 §5.7), and keeps a parsed copy of
// the response in the per-lookup capture found in the context. The
// Client then reads rcode, AD bit, server and TTLs from the capture.
// (The context value is private to this package and carries no
// dependency; it only joins adns's dial back to the lookup that caused it.)

// server is one upstream DNS server.
type server struct {
	addr    string // "ip:port"
	trusted bool   // its AD bit is believed
}

// servers returns the configured servers, or those of resolvConf.
func servers(configured []string, trustAD bool, resolvConf string) []server {
	var list []server
	if len(configured) > 0 {
		for _, a := range configured {
			list = append(list, server{addr: a, trusted: trustAD || isLoopback(a)})
		}
		return list
	}
	addrs, trust := readResolvConf(resolvConf)
	for _, a := range addrs {
		list = append(list, server{addr: a, trusted: trustAD || trust || isLoopback(a)})
	}
	return list
}

func isLoopback(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	return err == nil && ap.Addr().IsLoopback()
}

// readResolvConf returns the nameservers ("ip:53") of a resolv.conf and
// whether it has "options trust-ad". Without nameservers it returns the
// loopback defaults, like the C library and adns.
func readResolvConf(path string) ([]string, bool) {
	var addrs []string
	trust := false
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 || strings.HasPrefix(fields[0], "#") || strings.HasPrefix(fields[0], ";") {
				continue
			}
			switch fields[0] {
			case "nameserver":
				if ip, err := netip.ParseAddr(fields[1]); err == nil {
					addrs = append(addrs, netip.AddrPortFrom(ip.WithZone(""), 53).String())
				}
			case "options":
				for _, o := range fields[1:] {
					trust = trust || o == "trust-ad"
				}
			}
		}
		f.Close()
	}
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1:53", "[::1]:53"}
	}
	return addrs, trust
}

// response is what we keep of one DNS response.
type response struct {
	server  server
	qname   string // lower case, as sent
	qtype   uint16
	rcode   int
	ad      bool
	answers int
	ttl     uint32 // lowest TTL of the answer section
	negTTL  uint32 // min(SOA TTL, SOA MINIMUM) from the authority section (RFC 2308 §5)
	hasSOA  bool
}

func parseResponse(m *mdns.Msg, s server) response {
	r := response{server: s, rcode: m.Rcode, ad: m.AuthenticatedData, answers: len(m.Answer), ttl: ^uint32(0)}
	if len(m.Question) == 1 {
		r.qname = strings.ToLower(m.Question[0].Name)
		r.qtype = m.Question[0].Qtype
	}
	for _, rr := range m.Answer {
		r.ttl = min(r.ttl, rr.Header().Ttl)
	}
	for _, rr := range m.Ns {
		if soa, ok := rr.(*mdns.SOA); ok {
			r.negTTL, r.hasSOA = min(soa.Hdr.Ttl, soa.Minttl), true
		}
	}
	return r
}

// capture collects the responses seen during one lookup.
type capture struct {
	servers []server
	mu      sync.Mutex
	next    int               // rotation over servers, one step per new query
	byID    map[uint16]server // server of each query id (TCP retries reuse it)
	resps   []response
}

type captureKey struct{}

func (c *capture) serverFor(id uint16) server {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.byID[id]; ok {
		return s
	}
	s := c.servers[c.next%len(c.servers)]
	c.next++
	if c.byID == nil {
		c.byID = map[uint16]server{}
	}
	c.byID[id] = s
	return s
}

func (c *capture) add(r response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resps = append(c.resps, r)
}

// last returns the last untruncated response per query type.
func (c *capture) last() map[uint16]response {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[uint16]response{}
	for _, r := range c.resps {
		m[r.qtype] = r
	}
	return m
}

// dial is adns's Dial. The address adns chose from resolv.conf is ignored:
// the connection picks one of ours once it sees the query.
func (r *Client) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	c, _ := ctx.Value(captureKey{}).(*capture)
	if c == nil {
		c = &capture{servers: r.servers}
	}
	base := &lazyConn{ctx: ctx, network: network, capt: c, timeout: r.timeout}
	if strings.HasPrefix(network, "udp") {
		return &lazyPacketConn{base}, nil
	}
	return base, nil
}

// lazyConn connects on its first Write. adns writes one query per
// connection and reads its response.
type lazyConn struct {
	ctx      context.Context
	network  string
	capt     *capture
	timeout  time.Duration
	deadline time.Time
	conn     net.Conn
	srv      server
	rbuf     []byte // TCP: bytes read so far
}

func (l *lazyConn) Write(b []byte) (int, error) {
	q := append([]byte(nil), b...)
	off := 0
	if !strings.HasPrefix(l.network, "udp") {
		off = 2 // RFC 1035 §4.2.2 length prefix
	}
	if len(q) < off+12 {
		return 0, &net.OpError{Op: "write", Net: l.network, Err: errShortQuery}
	}
	q[off+3] |= 0x20 // AD: ask for the validation status (RFC 6840 §5.7)
	id := uint16(q[off])<<8 | uint16(q[off+1])
	l.srv = l.capt.serverFor(id)
	d := net.Dialer{Timeout: l.timeout}
	conn, err := d.DialContext(l.ctx, l.network, l.srv.addr)
	if err != nil {
		return 0, err
	}
	l.conn = conn
	if !l.deadline.IsZero() {
		conn.SetDeadline(l.deadline)
	}
	if _, err := conn.Write(q); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (l *lazyConn) Read(b []byte) (int, error) {
	if l.conn == nil {
		return 0, net.ErrClosed
	}
	n, err := l.conn.Read(b)
	if n > 0 {
		l.observe(b[:n])
	}
	return n, err
}

// observe parses a response (UDP: one datagram; TCP: once complete).
func (l *lazyConn) observe(b []byte) {
	if !strings.HasPrefix(l.network, "udp") {
		l.rbuf = append(l.rbuf, b...)
		if len(l.rbuf) < 2 {
			return
		}
		n := int(l.rbuf[0])<<8 | int(l.rbuf[1])
		if len(l.rbuf) < 2+n {
			return
		}
		b = l.rbuf[2 : 2+n]
	}
	m := new(mdns.Msg)
	if err := m.Unpack(b); err != nil || !m.Response || m.Truncated {
		return
	}
	l.capt.add(parseResponse(m, l.srv))
}

func (l *lazyConn) Close() error {
	if l.conn == nil {
		return nil
	}
	return l.conn.Close()
}

func (l *lazyConn) LocalAddr() net.Addr {
	if l.conn == nil {
		return nil
	}
	return l.conn.LocalAddr()
}

func (l *lazyConn) RemoteAddr() net.Addr {
	if l.conn == nil {
		return nil
	}
	return l.conn.RemoteAddr()
}

func (l *lazyConn) SetDeadline(t time.Time) error {
	l.deadline = t
	if l.conn != nil {
		return l.conn.SetDeadline(t)
	}
	return nil
}

func (l *lazyConn) SetReadDeadline(t time.Time) error {
	if l.conn != nil {
		return l.conn.SetReadDeadline(t)
	}
	return l.SetDeadline(t)
}

func (l *lazyConn) SetWriteDeadline(t time.Time) error {
	if l.conn != nil {
		return l.conn.SetWriteDeadline(t)
	}
	return nil
}

// lazyPacketConn is a lazyConn that adns recognizes as a datagram
// connection (it tests for net.PacketConn).
type lazyPacketConn struct{ *lazyConn }

func (l *lazyPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, err := l.Read(b)
	return n, l.RemoteAddr(), err
}

func (l *lazyPacketConn) WriteTo(b []byte, _ net.Addr) (int, error) { return l.Write(b) }
