package smtpserver

import (
	"crypto/tls"
	"net"
	"net/netip"

	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/store"
)

// connState is what is known about the client of one connection. It is
// written by wireConn and read by the session, both on go-smtp's
// goroutine (BDAT's reader goroutine only reads it while wireConn refuses
// STARTTLS and XCLIENT inside a transaction).
type connState struct {
	id             string
	mode           Mode
	remoteIP       netip.Addr
	remotePort     uint16
	loopback       bool // the socket peer is loopback or a Unix socket
	xclientTrusted bool
	name           string // client host name (XCLIENT NAME), "" if unknown
	helo           string
	esmtp          bool // EHLO/LHLO rather than HELO
	protoOverride  string
	needEHLO       bool // after STARTTLS or XCLIENT
	tls            *tls.ConnectionState
	account        *store.Account // authenticated account
	xrelease       func()         // guard slot taken for an XCLIENT address
}

func newConnState(s *Server, m Mode, c net.Conn) *connState {
	st := &connState{id: newID(), mode: m}
	ap := addrPort(c.RemoteAddr())
	st.remoteIP, st.remotePort = ap.Addr().Unmap(), ap.Port()
	_, unix := c.RemoteAddr().(*net.UnixAddr)
	st.loopback = unix || st.remoteIP.IsLoopback()
	st.xclientTrusted = st.remoteIP.IsValid() && inPrefixes(st.remoteIP, s.opt.XCLIENTNetworks)
	return st
}

// setClient records the real client address (PROXY, XCLIENT).
func (st *connState) setClient(ip netip.Addr, port uint16) {
	st.remoteIP, st.remotePort = ip.Unmap(), port
}

func (st *connState) greeted(helo, verb string) {
	if helo != "" {
		st.helo = helo
		st.esmtp = verb != "HELO"
		st.needEHLO = false
	}
}

func (st *connState) closeRelease() {
	if st.xrelease != nil {
		st.xrelease()
		st.xrelease = nil
	}
}

// proto is the RFC 3848 "with" keyword for Received.
func (st *connState) proto() string {
	if st.protoOverride != "" && st.tls == nil && st.account == nil {
		return st.protoOverride
	}
	if st.mode == ModeLMTP {
		return "LMTP"
	}
	p := "SMTP"
	if st.esmtp {
		p = "ESMTP"
	}
	if st.tls != nil {
		p += "S"
	}
	if st.account != nil {
		p += "A"
	}
	if !st.esmtp && p != "SMTP" {
		p = "E" + p // RFC 3848 defines the S/A suffixes only for ESMTP
	}
	return p
}

// client returns the Received/log description of the client.
func (st *connState) client(private bool) delivery.Client {
	c := delivery.Client{HELO: st.helo, Addr: st.remoteIP, Name: st.name, Proto: st.proto(), TLS: st.tls, Private: private}
	if st.account != nil {
		c.Login = st.account.Address.String()
	}
	return c
}

// tlsSummary is the TLS description for logs.
func (st *connState) tlsSummary() string {
	if st.tls == nil {
		return "none"
	}
	return tls.VersionName(st.tls.Version) + " " + tls.CipherSuiteName(st.tls.CipherSuite)
}

// secure reports whether passwords may be sent: TLS, or loopback.
func (st *connState) secure() bool { return st.tls != nil || st.loopback }
