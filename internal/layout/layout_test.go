// Package layout holds the test that enforces the import rules of
// DESIGN.md: foundations import only the standard library, golang.org/x/*
// and each other; policy packages add foundations (and their chosen
// libraries); services may import foundations, policy and each other's
// interfaces; nothing imports cmd/; only cmd/ imports internal/config.
package layout

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/posthorn/posthorn"

// Package classes by their first path element under internal/.
var (
	foundations = set("addr", "dns", "message", "smtp", "sasl", "imapwire")
	policy      = set("spf", "dkim", "dmarc", "arc", "mtasts", "dane", "tlsrpt", "srs", "junk", "iprev")
	services    = set("store", "accounts", "delivery", "msgauth", "queue", "smtpclient", "smtpserver",
		"imapserver", "sieve", "tlsmgr", "httpserver", "guard", "admin", "config", "layout", "mailport")
	// Libraries policy packages may use (DESIGN.md, chosen dependencies).
	policyLibs = []string{"github.com/emersion/go-msgauth", "github.com/mjl-/adns", "github.com/miekg/dns"}
	// Libraries foundations may use besides x/*: the SASL ones for sasl, DNS ones for dns.
	foundationLibs = []string{"github.com/xdg-go/", "github.com/emersion/go-sasl", "github.com/mjl-/adns", "github.com/miekg/dns"}
)

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

type pkg struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// class returns "cmd", "foundation", "policy", "service" or "" (other) and
// the internal name of an import path of this module.
func class(path string) (string, string) {
	rel, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return "", ""
	}
	if strings.HasPrefix(rel, "cmd/") {
		return "cmd", rel
	}
	in, ok := strings.CutPrefix(rel, "internal/")
	if !ok {
		return "other", rel
	}
	name, _, _ := strings.Cut(in, "/")
	switch {
	case foundations[name]:
		return "foundation", name
	case policy[name]:
		return "policy", name
	case services[name]:
		return "service", name
	}
	return "unknown", name
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func hasPrefix(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// allowed reports whether a package of class from may import imp.
func allowed(from, fromName, imp string) (bool, string) {
	impClass, impName := class(imp)
	switch {
	case impClass == "cmd":
		return false, "nothing imports cmd/"
	case impName == "config" && from != "cmd":
		return false, "only cmd/ imports internal/config"
	case impClass == "unknown":
		return false, "imported package is not classified in layout_test.go"
	}
	if isStd(imp) || strings.HasPrefix(imp, "golang.org/x/") {
		return true, ""
	}
	switch from {
	case "foundation":
		if impClass == "foundation" || hasPrefix(imp, foundationLibs) {
			return true, ""
		}
		return false, "foundations import only the standard library, golang.org/x/* and each other"
	case "policy":
		if impClass == "foundation" || impClass == "policy" || hasPrefix(imp, policyLibs) {
			return true, ""
		}
		return false, "policy packages import foundations, other policy packages and their chosen libraries"
	}
	return true, ""
}

func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 5 {
		t.Fatalf("only %d packages listed", len(pkgs))
	}
	for _, p := range pkgs {
		from, name := class(p.ImportPath)
		if from == "unknown" {
			t.Errorf("%s: package %q is not classified; add it to layout_test.go", p.ImportPath, name)
			continue
		}
		for _, imp := range p.Imports {
			if ok, why := allowed(from, name, imp); !ok {
				t.Errorf("%s imports %s: %s", p.ImportPath, imp, why)
			}
		}
	}
}

// TestRulesCatchViolations makes sure the checker is not vacuous.
func TestRulesCatchViolations(t *testing.T) {
	for _, c := range []struct{ from, name, imp string }{
		{"foundation", "addr", module + "/internal/store"},
		{"foundation", "message", "github.com/BurntSushi/toml"},
		{"policy", "dkim", module + "/internal/store"},
		{"service", "store", module + "/internal/config"},
		{"service", "admin", module + "/cmd/posthorn"},
	} {
		if ok, _ := allowed(c.from, c.name, c.imp); ok {
			t.Errorf("%s (%s) importing %s was allowed", c.name, c.from, c.imp)
		}
	}
	for _, c := range []struct{ from, name, imp string }{
		{"foundation", "addr", "golang.org/x/net/idna"},
		{"policy", "dkim", module + "/internal/addr"},
		{"service", "admin", module + "/internal/store"},
		{"cmd", "cmd/posthorn", module + "/internal/config"},
	} {
		if ok, why := allowed(c.from, c.name, c.imp); !ok {
			t.Errorf("%s (%s) importing %s was refused: %s", c.name, c.from, c.imp, why)
		}
	}
}
