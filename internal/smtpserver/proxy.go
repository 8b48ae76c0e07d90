package smtpserver

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// PROXY protocol (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt).
var (
	proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")
	errProxy   = errors.New("smtpserver: malformed PROXY header")
)

// readProxyHeader reads a PROXY v1 or v2 header from r. It returns the
// source address, or the zero AddrPort for a v1 "UNKNOWN" or a v2 LOCAL
// header (health checks): the socket address then stands.
func readProxyHeader(r *bufio.Reader) (netip.AddrPort, error) {
	sig, err := r.Peek(len(proxyV2Sig))
	if err != nil {
		if b, _ := r.Peek(r.Buffered()); bytes.HasPrefix(b, []byte("PROXY ")) {
			return readProxyV1(r)
		}
		return netip.AddrPort{}, fmt.Errorf("%w: %v", errProxy, err)
	}
	if bytes.Equal(sig, proxyV2Sig) {
		return readProxyV2(r)
	}
	if bytes.HasPrefix(sig, []byte("PROXY ")) {
		return readProxyV1(r)
	}
	return netip.AddrPort{}, fmt.Errorf("%w: no PROXY signature", errProxy)
}

// readProxyV1 parses "PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n"
// (at most 107 bytes).
func readProxyV1(r *bufio.Reader) (netip.AddrPort, error) {
	var line []byte
	for len(line) < 107 {
		c, err := r.ReadByte()
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("%w: %v", errProxy, err)
		}
		line = append(line, c)
		if c == '\n' {
			break
		}
	}
	s, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%w: v1 line not ended by CRLF within 107 bytes", errProxy)
	}
	f := strings.Split(s, " ")
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		return netip.AddrPort{}, nil
	}
	if len(f) != 6 || f[1] != "TCP4" && f[1] != "TCP6" {
		return netip.AddrPort{}, fmt.Errorf("%w: %q", errProxy, s)
	}
	ip, err := netip.ParseAddr(f[2])
	if err != nil || ip.Is4() != (f[1] == "TCP4") || ip.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%w: bad source address %q", errProxy, f[2])
	}
	port, err := strconv.ParseUint(f[4], 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: bad source port %q", errProxy, f[4])
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}

// readProxyV2 parses the binary header.
func readProxyV2(r *bufio.Reader) (netip.AddrPort, error) {
	hdr := make([]byte, 16)
	if _, err := readFull(r, hdr); err != nil {
		return netip.AddrPort{}, err
	}
	verCmd, fam := hdr[12], hdr[13]
	n := int(binary.BigEndian.Uint16(hdr[14:16]))
	if verCmd>>4 != 2 {
		return netip.AddrPort{}, fmt.Errorf("%w: version %d", errProxy, verCmd>>4)
	}
	body := make([]byte, n)
	if _, err := readFull(r, body); err != nil {
		return netip.AddrPort{}, err
	}
	switch verCmd & 0xf {
	case 0: // LOCAL
		return netip.AddrPort{}, nil
	case 1: // PROXY
	default:
		return netip.AddrPort{}, fmt.Errorf("%w: command %d", errProxy, verCmd&0xf)
	}
	switch fam {
	case 0x11: // TCP over IPv4
		if n < 12 {
			return netip.AddrPort{}, fmt.Errorf("%w: short IPv4 block", errProxy)
		}
		ip := netip.AddrFrom4([4]byte(body[0:4]))
		return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(body[8:10])), nil
	case 0x21: // TCP over IPv6
		if n < 36 {
			return netip.AddrPort{}, fmt.Errorf("%w: short IPv6 block", errProxy)
		}
		ip := netip.AddrFrom16([16]byte(body[0:16])).Unmap()
		return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(body[32:34])), nil
	case 0x00: // UNSPEC
		return netip.AddrPort{}, nil
	}
	return netip.AddrPort{}, fmt.Errorf("%w: unsupported family 0x%02x", errProxy, fam)
}

func readFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, fmt.Errorf("%w: %v", errProxy, err)
		}
	}
	return n, nil
}
