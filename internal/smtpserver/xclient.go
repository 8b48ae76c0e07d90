package smtpserver

import (
	"context"
	"net/netip"
	"strconv"
	"strings"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/smtp"
)

// xclient handles the Postfix XCLIENT command
// (https://www.postfix.org/XCLIENT_README.html) from trusted front ends:
// it replaces the client's address, name, HELO name, protocol and login,
// then answers with a new greeting; the client must send EHLO again.
func (w *wireConn) xclient(arg string) error {
	if !w.st.xclientTrusted {
		w.log.Info("XCLIENT refused", "client", w.st.remoteIP)
		w.reply("550 5.7.0 Error: insufficient authorization")
		return nil
	}
	if w.sess.inTransaction() {
		w.reply("503 5.5.1 Error: MAIL transaction in progress")
		return nil
	}
	params, err := smtp.ParseParams(arg)
	if err != nil || len(params) == 0 {
		w.reply("501 5.5.4 Syntax: XCLIENT attribute=value...")
		return nil
	}
	st := *w.st
	login := ""
	for _, p := range params {
		v, err := smtp.DecodeXtext(p.Value)
		if err != nil || !p.HasVal {
			w.reply("501 5.5.4 Bad XCLIENT attribute value: " + p.Keyword)
			return nil
		}
		unknown := v == "[UNAVAILABLE]" || v == "[TEMPUNAVAIL]"
		switch p.Keyword {
		case "ADDR":
			if unknown {
				st.remoteIP = netip.Addr{}
				continue
			}
			ip, err := netip.ParseAddr(strings.TrimPrefix(strings.TrimPrefix(v, "IPV6:"), "ipv6:"))
			if err != nil {
				w.reply("501 5.5.4 Bad XCLIENT ADDR: " + v)
				return nil
			}
			st.remoteIP = ip.Unmap()
		case "PORT":
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil && !unknown {
				w.reply("501 5.5.4 Bad XCLIENT PORT: " + v)
				return nil
			}
			st.remotePort = uint16(n)
		case "NAME", "REVERSE_NAME":
			if p.Keyword == "NAME" {
				st.name = ""
				if !unknown {
					st.name = v
				}
			}
		case "HELO":
			st.helo = ""
			if !unknown {
				st.helo = v
			}
		case "PROTO":
			switch strings.ToUpper(v) {
			case "SMTP", "ESMTP":
				st.protoOverride = strings.ToUpper(v)
			default:
				w.reply("501 5.5.4 Bad XCLIENT PROTO: " + v)
				return nil
			}
		case "LOGIN":
			if !unknown {
				login = v
			}
		case "DESTADDR", "DESTPORT":
			// Accepted for compatibility; we log our own listening address.
		default:
			w.reply("501 5.5.4 Bad XCLIENT attribute name: " + p.Keyword)
			return nil
		}
	}
	if login != "" {
		a, err := addr.ParseAddress(login)
		if err == nil {
			acc, lerr := w.srv.opt.Store.Account(context.Background(), a)
			if lerr == nil && !acc.Disabled {
				st.account = &acc
			} else {
				err = lerr
			}
		}
		if err != nil {
			w.reply("550 5.7.0 XCLIENT LOGIN: no such account")
			return nil
		}
	}
	if g := w.srv.opt.Guard; g != nil && st.remoteIP != w.st.remoteIP {
		release, err := connect(g, st.remoteIP, w.mode)
		if err != nil {
			w.reply("421 4.7.0 " + limitReason(err))
			return w.inputError(err)
		}
		w.st.closeRelease()
		st.xrelease = release
	}
	w.log.Info("XCLIENT", "client", st.remoteIP, "name", st.name, "helo", st.helo, "login", login)
	*w.st = st
	w.restart()
	w.reply("220 " + w.srv.opt.Hostname.ASCII + " ESMTP Service Ready")
	return nil
}
