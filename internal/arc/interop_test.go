package arc

// Interop with Debian's python3-dkim (dkimpy): chains sealed by posthorn
// verify with dkim.arc_verify, chains sealed by dkim.arc_sign verify in
// posthorn, mixed chains verify in both, and tampering fails in both.
// dkimpy's library is driven with a dnsfunc answering from testZone.
//
// dkimpy's ARC supports rsa-sha256 only (its ARC_HASH_ALGORITHMS), so the
// chains exchanged are RSA-sealed; arc_sign needs python3-authres.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

const debianPython = "/usr/bin/python3"

// dkimpyARC verifies (argv: verify RECORDS) or seals (argv: sign RECORDS
// SELECTOR DOMAIN KEYFILE SRV_ID TIMESTAMP [HEADERS]) the message on
// stdin; HEADERS is a colon-separated h= list.
const dkimpyARC = `
import dkim, json, sys
records = json.load(open(sys.argv[2]))
def dnsfunc(name, timeout=5):
    v = records.get(name.decode().rstrip(".").lower())
    return v.encode() if v is not None else None
msg = sys.stdin.buffer.read()
if sys.argv[1] == "verify":
    cv, results, reason = dkim.arc_verify(msg, dnsfunc=dnsfunc)
    print(json.dumps({"cv": cv.decode() if cv else "", "reason": reason}))
else:
    sel, dom, keyfile, srv, ts = sys.argv[3:8]
    hdrs = [h.encode() for h in sys.argv[8].split(":")] if len(sys.argv) > 8 else None
    fields = dkim.arc_sign(msg, sel.encode(), dom.encode(), open(keyfile, "rb").read(), srv.encode(), timestamp=ts, include_headers=hdrs)
    sys.stdout.buffer.write(b"".join(fields))
`

func needDkimpyARC(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(debianPython); err != nil {
		t.Skipf("%s missing: apt-get install -y python3-dkim python3-authres", debianPython)
	}
	if out, err := exec.Command(debianPython, "-c", "import dkim, authres, nacl").CombinedOutput(); err != nil {
		t.Skipf("dkimpy's ARC needs python3-dkim and python3-authres (apt-get install -y python3-dkim python3-authres): %v\n%s", err, out)
	}
}

// dkimpy runs dkimpyARC with the TXT records of z.
func dkimpy(t *testing.T, z dnstest.Zone, stdin string, args ...string) string {
	t.Helper()
	recs := map[string]string{}
	for name, r := range z {
		if len(r.TXT) == 1 {
			recs[strings.ToLower(strings.TrimSuffix(name, "."))] = r.TXT[0]
		}
	}
	j, _ := json.Marshal(recs)
	path := filepath.Join(t.TempDir(), "records.json")
	if err := os.WriteFile(path, j, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(debianPython, append([]string{"-c", dkimpyARC, args[0], path}, args[1:]...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dkimpy %s: %v\n%s", args[0], err, stderr.String())
	}
	return string(out)
}

// dkimpyVerify returns dkimpy's chain status ("pass", "fail", "none") and
// reason.
func dkimpyVerify(t *testing.T, msg string) (string, string) {
	t.Helper()
	var v struct{ CV, Reason string }
	if err := json.Unmarshal([]byte(dkimpy(t, testZone(t), msg, "verify")), &v); err != nil {
		t.Fatal(err)
	}
	return v.CV, v.Reason
}

// dkimpySeal seals msg with dkimpy as the mailing list, after adding the
// list's Authentication-Results with the given arc= result.
func dkimpySeal(t *testing.T, msg, arc string) string {
	t.Helper()
	key, _ := filepath.Abs(filepath.Join("testdata", "forwarder-rsa2048.pem"))
	// The list's MTA drops earlier Authentication-Results of its own
	// authserv-id (RFC 8601 §5); dkimpy would merge them.
	fields, body := splitMessage(msg)
	fields = slices.DeleteFunc(fields, func(f string) bool { return strings.HasPrefix(f, "Authentication-Results:") })
	msg = joinMessage(fields, body)
	in := "Authentication-Results: mx.lists.forwarder.example; spf=pass smtp.mailfrom=alice@posthorn.example;\r\n\tdmarc=pass header.from=posthorn.example; arc=" + arc + "\r\n" + msg
	sealed := dkimpy(t, testZone(t), in, "sign", "fwd", forwarderDomain.ASCII, key, "mx.lists.forwarder.example", "1780653900")
	if !strings.HasPrefix(sealed, "ARC-Seal: i=") {
		t.Fatalf("dkimpy sealed nothing: %q", sealed)
	}
	return sealed + in
}

func TestInteropPosthornToDkimpy(t *testing.T) {
	needDkimpyARC(t)
	res := testResolver(t)
	msg := readFile(t, "message.eml")
	one := seal(t, res, msg, rsaSigner(t))
	two := sealAfter(t, res, one, strings.Replace(one, "Subject: Lunch", "Subject: [friends] Lunch", 1)+"-- \r\nfriends\r\n", fwdSigner(t))
	for _, c := range []struct {
		name, msg, want string
	}{
		{"one hop", one, "pass"},
		{"two hops, list changed the message", two, "pass"},
		{"body tampered", strings.Replace(two, "shall we", "shall WE", 1), "fail"},
		{"AAR i=1 tampered", editField(t, two, kindAAR, 1, replace("spf=pass", "spf=fail")), "fail"},
		{"AS i=1 removed", removeField(t, two, kindAS, 1), "fail"},
	} {
		cv, reason := dkimpyVerify(t, c.msg)
		t.Logf("%s: dkimpy cv=%s (%s)", c.name, cv, reason)
		if cv != c.want {
			t.Errorf("%s: dkimpy says %s (%s), want %s", c.name, cv, reason, c.want)
		}
		if r := verify(t, res, c.msg); string(r.Chain) != c.want {
			t.Errorf("%s: posthorn says %s, dkimpy %s", c.name, describe(r), cv)
		}
	}
	// dkimpy accepts rsa-sha256 only in ARC: an Ed25519 chain, which
	// posthorn verifies, fails there.
	ed := seal(t, res, msg, edSigner(t))
	cv, reason := dkimpyVerify(t, ed)
	t.Logf("Ed25519 seal: dkimpy cv=%s (%s); posthorn %s", cv, reason, verify(t, res, ed).Chain)
}

func TestInteropDkimpyToPosthorn(t *testing.T) {
	needDkimpyARC(t)
	res := testResolver(t)
	msg := readFile(t, "message.eml")

	one := dkimpySeal(t, msg, "none")
	r := verify(t, res, one)
	if r.Chain != StatusPass || r.Instances != 1 || r.Sets[0].AuthServID != "mx.lists.forwarder.example" {
		t.Fatalf("dkimpy i=1: %s", describe(r))
	}
	if _, dmarc, ok := TrustedOverride(r, nil); ok || dmarc != "" {
		t.Error("override without trusted sealers")
	}
	two := dkimpySeal(t, one, "pass")
	if r := verify(t, res, two); r.Chain != StatusPass || r.Instances != 2 {
		t.Fatalf("dkimpy i=1, i=2: %s", describe(r))
	}
	for name, bad := range map[string]string{
		"body":        strings.Replace(two, "shall we", "shall WE", 1),
		"subject":     strings.Replace(two, "Subject: Lunch", "Subject: Dinner", 1),
		"AAR i=1":     editField(t, two, kindAAR, 1, replace("spf=pass", "spf=fail")),
		"AMS i=2 cut": removeField(t, two, kindAMS, 2),
	} {
		if r := verify(t, res, bad); r.Chain != StatusFail {
			t.Errorf("dkimpy chain, %s tampered: %s", name, describe(r))
		} else {
			t.Logf("dkimpy chain, %s tampered: %s", name, describe(r))
		}
	}

	// Mixed chains: posthorn then dkimpy, dkimpy then posthorn.
	mixed := dkimpySeal(t, seal(t, res, msg, rsaSigner(t)), "pass")
	if r := verify(t, res, mixed); r.Chain != StatusPass || r.Instances != 2 {
		t.Errorf("posthorn i=1, dkimpy i=2, in posthorn: %s", describe(r))
	}
	if cv, reason := dkimpyVerify(t, mixed); cv != "pass" {
		t.Errorf("posthorn i=1, dkimpy i=2, in dkimpy: %s (%s)", cv, reason)
	}
	mixed = seal(t, res, one, rsaSigner(t))
	if r := verify(t, res, mixed); r.Chain != StatusPass || r.Instances != 2 {
		t.Errorf("dkimpy i=1, posthorn i=2, in posthorn: %s", describe(r))
	}
	if cv, reason := dkimpyVerify(t, mixed); cv != "pass" {
		t.Errorf("dkimpy i=1, posthorn i=2, in dkimpy: %s (%s)", cv, reason)
	}
}

// TestSealSameAsDkimpy: given the same message, key, timestamp and signed
// header fields, posthorn's ARC set is dkimpy's byte for byte (ARC-Seal
// and ARC-Message-Signature; the ARC-Authentication-Results is folded
// differently and equal once canonicalized), at instance 1 and 2 and when
// sealing a failed chain. dkimpy made the ARC test suite's signing
// vectors, which is why posthorn writes tags in its order.
func TestSealSameAsDkimpy(t *testing.T) {
	needDkimpyARC(t)
	res := testResolver(t)
	const ts = 1780653600
	for _, c := range []struct {
		name    string
		msg     func() string // the message before the receiver's Authentication-Results
		signer  dkim.Signer
		key     string
		arc     string // the receiver's arc= result
		headers []string
	}{
		{"first set", func() string { return readFile(t, "message.eml") }, rsaSigner(t), "rsa2048.pem", "none",
			[]string{"from", "to", "subject"}},
		{"first set, repeated and absent names", func() string { return readFile(t, "message.eml") }, rsaSigner(t), "rsa2048.pem", "none",
			[]string{"from", "from", "to", "cc", "subject", "subject", "date", "message-id", "mime-version", "content-type", "list-id", "reply-to"}},
		{"second set over a passing chain", func() string { return seal(t, res, readFile(t, "message.eml"), rsaSigner(t)) }, fwdSigner(t), "forwarder-rsa2048.pem", "pass",
			[]string{"from", "to", "subject", "date"}},
		{"a failed chain", func() string {
			return strings.Replace(seal(t, res, readFile(t, "message.eml"), rsaSigner(t)), "shall we", "shall WE", 1)
		}, fwdSigner(t), "forwarder-rsa2048.pem", "fail", []string{"from", "subject"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ar := "mx." + c.signer.Domain.ASCII + "; spf=pass smtp.mailfrom=alice@posthorn.example; arc=" + c.arc
			msg := "Authentication-Results: " + ar + "\r\n" + c.msg()
			chain := verify(t, res, msg)
			if string(chain.Chain) != c.arc {
				t.Fatalf("chain %s, want %s", describe(chain), c.arc)
			}
			ours, err := (&Sealer{Signer: c.signer, Now: func() time.Time { return time.Unix(ts, 0) }, Headers: c.headers}).
				Seal(strings.NewReader(msg), ar, chain)
			if err != nil {
				t.Fatal(err)
			}
			key, _ := filepath.Abs(filepath.Join("testdata", c.key))
			theirs := dkimpy(t, testZone(t), msg, "sign", c.signer.Selector, c.signer.Domain.ASCII, key, "mx."+c.signer.Domain.ASCII,
				strconv.Itoa(ts), strings.Join(c.headers, ":"))
			of, _ := splitMessage(ours + "\r\n")
			tf, _ := splitMessage(theirs + "\r\n")
			if len(of) != 3 || len(tf) != 3 {
				t.Fatalf("ours:\n%s\ntheirs:\n%s", ours, theirs)
			}
			for i, name := range []string{"ARC-Seal", "ARC-Message-Signature"} {
				if of[i] != tf[i] {
					t.Errorf("%s differs\nposthorn: %q\ndkimpy:   %q", name, of[i], tf[i])
				}
			}
			if o, th := dkim.RelaxedHeader(of[2]), dkim.RelaxedHeader(tf[2]); o != th {
				t.Errorf("ARC-Authentication-Results differs once canonicalized\nposthorn: %q\ndkimpy:   %q", o, th)
			}
			if got := verify(t, res, ours+msg); got.Chain != StatusPass && c.arc != "fail" {
				t.Errorf("posthorn's seal does not verify: %s", describe(got))
			}
		})
	}
}
