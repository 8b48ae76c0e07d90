package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// The sender's authentication setup: messages come from clients in
// 192.0.2.0/24 (presented with XCLIENT) on behalf of senderDomain, which
// publishes SPF, a DKIM key and a DMARC reject policy in the test DNS.
const (
	senderDomain = "sender.example.net"
	dkimSelector = "bench"
	clientHosts  = 250 // 192.0.2.1 … 192.0.2.250
)

// clientIP and clientName are the XCLIENT identity of the i-th message;
// the zone gives each a PTR and a matching A record, so iprev passes.
func clientIP(i int) string   { return fmt.Sprintf("192.0.2.%d", i%clientHosts+1) }
func clientName(i int) string { return fmt.Sprintf("c%d.%s", i%clientHosts+1, senderDomain) }

// setupAuth writes dir/dkim.pem (a new RSA-2048 key) and dir/zone-auth.txt,
// the records of senderDomain for bench/lib.sh's test DNS server.
func setupAuth(dir string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "dkim.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	var z strings.Builder
	fmt.Fprintf(&z, "%s. IN TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n", senderDomain)
	fmt.Fprintf(&z, "_dmarc.%s. IN TXT \"v=DMARC1; p=reject\"\n", senderDomain)
	fmt.Fprintf(&z, "%s._domainkey.%s. IN TXT %s\n", dkimSelector, senderDomain,
		quoteTXT("v=DKIM1; k=rsa; p="+base64.StdEncoding.EncodeToString(pub)))
	for i := range clientHosts {
		fmt.Fprintf(&z, "%d.2.0.192.in-addr.arpa. IN PTR %s.\n", i+1, clientName(i))
		fmt.Fprintf(&z, "%s. IN A %s\n", clientName(i), clientIP(i))
	}
	return os.WriteFile(filepath.Join(dir, "zone-auth.txt"), []byte(z.String()), 0o644)
}

// quoteTXT splits s into quoted character-strings of at most 255 octets
// (RFC 1035 §3.3.14); a resolver concatenates them (RFC 6376 §3.6.2.2).
func quoteTXT(s string) string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, `"`+s[:255]+`"`)
		s = s[255:]
	}
	return strings.Join(append(parts, `"`+s+`"`), " ")
}

// loadKey reads the PKCS #8 key setupAuth wrote.
func loadKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", path)
	}
	return s, nil
}

// signedPool returns n distinct messages of about size bytes from
// from@senderDomain, each DKIM-signed (RSA-SHA256, relaxed/relaxed) over
// From, To, Subject and Date. Message-ID is left out of the signature so
// the sender can add a unique one per delivery without signing again.
func signedPool(key crypto.Signer, from, to string, size, n int) ([][]byte, error) {
	opts := &dkim.SignOptions{
		Domain: senderDomain, Selector: dkimSelector, Signer: key, Hash: crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: []string{"From", "To", "Subject", "Date"},
	}
	pool := make([][]byte, n)
	// The message-ID line sendOne adds: about 50 octets.
	const msgIDLen = 50
	for i := range pool {
		want := size - msgIDLen
		for range 2 { // the second pass makes up for the signature's size
			msg := makeMessage(from, to, want, fmt.Sprintf("smtpload %d", i))
			var b bytes.Buffer
			if err := dkim.Sign(&b, bytes.NewReader(msg), opts); err != nil {
				return nil, err
			}
			pool[i] = b.Bytes()
			want -= len(pool[i]) - (size - msgIDLen)
		}
	}
	return pool, nil
}

// checkAuth opens a stopped posthorn store and checks that the newest
// message of account's INBOX records spf=pass, dkim=pass and dmarc=pass in
// its Authentication-Results header; it returns that header.
func checkAuth(dir, account string) (string, error) {
	ctx := context.Background()
	st, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		return "", err
	}
	defer st.Close()
	a, err := addr.ParseAddress(account)
	if err != nil {
		return "", err
	}
	acc, err := st.Account(ctx, a)
	if err != nil {
		return "", err
	}
	mbs, err := st.Mailboxes(ctx, acc.ID)
	if err != nil {
		return "", err
	}
	for _, mb := range mbs {
		if !strings.EqualFold(mb.Name, "INBOX") {
			continue
		}
		msgs, err := st.Messages(ctx, acc.ID, mb.ID, 1, 0)
		if err != nil {
			return "", err
		}
		if len(msgs) == 0 {
			return "", errors.New("INBOX is empty")
		}
		c, err := st.Open(ctx, msgs[len(msgs)-1])
		if err != nil {
			return "", err
		}
		defer c.Close()
		b, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
		if err != nil {
			return "", err
		}
		ar := headerField(b, "Authentication-Results")
		for _, want := range []string{"spf=pass", "dkim=pass", "dmarc=pass"} {
			if !strings.Contains(ar, want) {
				return ar, fmt.Errorf("Authentication-Results lacks %s: %q", want, ar)
			}
		}
		return ar, nil
	}
	return "", errors.New("no INBOX")
}

// headerField returns the first field named name in the header of msg,
// unfolded.
func headerField(msg []byte, name string) string {
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	var cur string
	for _, l := range strings.Split(string(head), "\r\n") {
		if strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
			if cur != "" {
				cur += " " + strings.TrimSpace(l)
			}
			continue
		}
		if cur != "" {
			return cur
		}
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			cur = strings.TrimSpace(v)
		}
	}
	return cur
}
