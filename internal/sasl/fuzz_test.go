package sasl

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// accepts reports whether fakeAuth accepts username and password, the
// independent oracle the fuzz tests check success against.
func accepts(username, password string) bool {
	u, ok := newFakeAuth().users[strings.ToLower(username)]
	return ok && u.password == password
}

func FuzzPlain(f *testing.F) {
	f.Add([]byte("\x00alice\x00"+alicePassword), true)
	f.Add([]byte("alice\x00alice\x00"+alicePassword), false)
	f.Add([]byte("root\x00alice\x00"+alicePassword), true)
	f.Add([]byte("\x00\x00"), true)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, msg []byte, useIR bool) {
		var rec successRecorder
		srv, err := NewServer(context.Background(), Plain, rec.options(newFakeAuth(), nil))
		if err != nil {
			t.Fatal(err)
		}
		if !useIR {
			if ch, done, err := srv.Next(nil); err != nil || done || len(ch) != 0 {
				t.Fatalf("Next(nil) = %q, %v, %v", ch, done, err)
			}
		}
		_, done, err := srv.Next(msg)
		if done != (err == nil) {
			t.Fatalf("done %v with err %v", done, err)
		}
		if len(rec.identities) != boolInt(done) {
			t.Fatalf("OnSuccess called %d times, done %v", len(rec.identities), done)
		}
		if !done {
			return
		}
		parts := bytes.Split(msg, []byte{0})
		if len(parts) != 3 || !accepts(string(parts[1]), string(parts[2])) ||
			(len(parts[0]) > 0 && !bytes.Equal(parts[0], parts[1])) {
			t.Fatalf("success for %q", msg)
		}
	})
}

func FuzzLogin(f *testing.F) {
	f.Add([]byte("alice"), []byte(alicePassword), []byte{})
	f.Add([]byte{}, []byte("alice"), []byte(alicePassword))
	f.Add([]byte{}, []byte{}, []byte(alicePassword))
	f.Add([]byte("al\x00ice"), []byte(alicePassword), []byte{})
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		var rec successRecorder
		srv, err := NewServer(context.Background(), Login, rec.options(newFakeAuth(), nil))
		if err != nil {
			t.Fatal(err)
		}
		var consumed [][]byte
		done := false
		for i, in := range [][]byte{a, b, c} {
			if i == 0 && len(in) == 0 {
				in = nil
			}
			consumed = append(consumed, in)
			var err error
			if _, done, err = srv.Next(in); err != nil || done {
				break
			}
		}
		if len(rec.identities) != boolInt(done) {
			t.Fatalf("OnSuccess called %d times, done %v", len(rec.identities), done)
		}
		if !done {
			return
		}
		n := len(consumed)
		if n < 2 || !accepts(string(consumed[n-2]), string(consumed[n-1])) {
			t.Fatalf("success for %q", consumed)
		}
	})
}

// fuzzBinding is a fixed tls-exporter value for FuzzSCRAM.
var fuzzBinding = bytes.Repeat([]byte{0xcb}, 32)

// FuzzSCRAM feeds arbitrary client-first, client-final and final
// acknowledgement messages. In final, "@N" is replaced by the server's nonce
// and "@C" by the correct base64 channel-binding field, so that the fuzzer
// reaches the proof check; no input may ever authenticate, since a proof
// depends on the server's random nonce.
func FuzzSCRAM(f *testing.F) {
	f.Add([]byte("n,,n=alice,r=abc"), []byte("c=@C,r=@N,p=AAAA"), []byte{}, uint8(0))
	f.Add([]byte("p=tls-exporter,,n=alice,r=abc"), []byte("c=@C,r=@N,p="+base64.StdEncoding.EncodeToString(make([]byte, 32))), []byte{}, uint8(2))
	f.Add([]byte("y,,n=carol,r=abc"), []byte("c=@C,r=@N,p=AAAA"), []byte{}, uint8(1))
	f.Add([]byte("n,a=alice,n=alice,r=abc"), []byte("c=biws,r=@N,x=1,p=AAAA"), []byte("x"), uint8(0))
	f.Fuzz(func(t *testing.T, first, final, ack []byte, mode uint8) {
		mech, cb := SCRAMSHA256, []byte(nil)
		switch mode % 3 {
		case 1:
			cb = fuzzBinding
		case 2:
			mech, cb = SCRAMSHA256Plus, fuzzBinding
		}
		var rec successRecorder
		srv, err := NewServer(context.Background(), mech, rec.options(newFakeAuth(), cb))
		if err != nil {
			t.Fatal(err)
		}
		serverFirst, done, err := srv.Next(first)
		if done {
			t.Fatal("done after client-first")
		}
		if err == nil {
			final = fillFinal(final, first, serverFirst, cb)
			if _, done, err = srv.Next(final); err == nil || done {
				t.Fatalf("client-final %q accepted (err %v, done %v)", final, err, done)
			}
		}
		if _, done, err := srv.Next(ack); err == nil || done {
			t.Fatalf("Next after failure: done %v err %v", done, err)
		}
		if len(rec.identities) != 0 {
			t.Fatalf("OnSuccess called: %q", rec.identities)
		}
	})
}

// fillFinal substitutes the placeholders of FuzzSCRAM's final message.
func fillFinal(final, first, serverFirst, cb []byte) []byte {
	nonce, _, _ := bytes.Cut(serverFirst, []byte(","))
	nonce = bytes.TrimPrefix(nonce, []byte("r="))
	gs2 := first
	if i := bytes.IndexByte(first, ','); i >= 0 {
		if j := bytes.IndexByte(first[i+1:], ','); j >= 0 {
			gs2 = first[:i+1+j+1]
		}
	}
	cbind := append([]byte(nil), gs2...)
	if len(first) > 0 && first[0] == 'p' {
		cbind = append(cbind, cb...)
	}
	final = bytes.ReplaceAll(final, []byte("@N"), nonce)
	return bytes.ReplaceAll(final, []byte("@C"), []byte(base64.StdEncoding.EncodeToString(cbind)))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestFuzzPlaceholdersReachProof checks that FuzzSCRAM's placeholders get
// past the channel-binding and nonce checks to the proof.
func TestFuzzPlaceholdersReachProof(t *testing.T) {
	proof := "p=" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		mech, first string
		cb          []byte
	}{
		{SCRAMSHA256, "n,,n=alice,r=abc", nil},
		{SCRAMSHA256, "n,,n=alice,r=abc", fuzzBinding},
		{SCRAMSHA256Plus, "p=tls-exporter,,n=alice,r=abc", fuzzBinding},
	} {
		srv, err := NewServer(context.Background(), tc.mech, Options{Authenticator: newFakeAuth(), ChannelBinding: tc.cb, FakeSecret: testSecret})
		if err != nil {
			t.Fatal(err)
		}
		s1, _, err := srv.Next([]byte(tc.first))
		if err != nil {
			t.Fatal(err)
		}
		final := fillFinal([]byte("c=@C,r=@N,"+proof), []byte(tc.first), s1, tc.cb)
		if _, _, err := srv.Next(final); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%s %q: err = %v, want ErrAuthFailed", tc.mech, final, err)
		}
	}
}
